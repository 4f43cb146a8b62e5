"""The run plan (``plan.RunPlan``): decided once in the main process, read by every worker; engines
run whatever worker their ``build`` callable makes; ``generate``'s option groups build the config.
Real Market-1501 crops and the box test parser (fast, known output)."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image
from test_imports import import_graph

import occreid.plan
from occreid.cli_generate import config_from_options, generate
from occreid.config import GenerateConfig
from occreid.datasets import read_dataset
from occreid.engines import make_engine
from occreid.occlusion import preset_params
from occreid.output import OutputTree
from occreid.parser import options_from_cli
from occreid.plan import RunPlan
from occreid.shards import Shard, shard_of, shard_tree
from occreid.worker import Worker

BOX = "parsers:BoxParser"


@pytest.fixture(scope="module")
def market():
    src = shared_dataset("market1501-mini")
    return src, read_dataset(src)


def _objects(root: Path) -> Path:
    """A one-object bank: a grey bin standing on the ground."""
    (root / "ground").mkdir(parents=True)
    bin_ = np.zeros((60, 40, 4), np.uint8)
    bin_[5:, 3:37] = (90, 90, 90, 255)
    Image.fromarray(bin_, "RGBA").save(root / "ground" / "bin.png")
    return root


def test_a_worker_derives_nothing_the_plan_holds(tmp_path, monkeypatch, market):
    """A worker used to bind the layout, hash the parameters (with --shape object, every object
    again) and make the output tree itself; now it reads the plan the main process built, pickled
    as a spawned worker or a Ray actor receives it."""
    src, ds = market
    occlusion = preset_params("default", shape="object", objects_dir=str(_objects(tmp_path / "objects")))
    cfg = GenerateConfig(input=src, output=tmp_path / "out", parser=BOX, occlusion=occlusion, save_masks=True)
    plan = pickle.loads(pickle.dumps(RunPlan.build(cfg, ds.layout, ds.records)))
    assert "objects" in plan.fingerprint  # what made each worker re-hash the bank

    def recomputed(*args, **kwargs):
        raise AssertionError("a worker recomputed what the plan holds")

    monkeypatch.setattr(GenerateConfig, "fingerprint", recomputed)
    monkeypatch.setattr(occreid.plan, "bound_layout", recomputed)
    monkeypatch.setattr(occreid.plan, "output_tree", recomputed)
    records = list(ds.records[:6])
    entries = Worker(plan).process(records)
    assert [e.relpath for e in entries] == [r.relpath for r in records]
    assert {e.params for e in entries} == {plan.params}
    assert {e.row["status"] for e in entries} <= {"occluded", "not_covered"}
    assert any(e.row["status"] == "occluded" and e.row["donor"] for e in entries)
    for e in entries:
        assert (tmp_path / "out" / e.relpath).is_file() and "masks" in e.outputs


def test_the_plan_is_the_same_in_every_process(tmp_path, market):
    src, ds = market
    cfg = GenerateConfig(input=src, output=tmp_path / "out", parser=BOX, occlusion=preset_params("person"))
    plan = RunPlan.build(cfg, ds.layout, ds.records)
    copy = pickle.loads(pickle.dumps(plan))
    assert (copy.fingerprint, copy.params, copy.layout, copy.donors) == (plan.fingerprint, plan.params, plan.layout,
                                                                          plan.donors)
    assert (copy.tree.root, copy.tree.tmp) == (plan.tree.root, plan.tree.tmp)
    assert [copy.roles.role(r) for r in ds.records] == [plan.roles.role(r) for r in ds.records]
    assert {plan.roles.role(r) for r in ds.records} == {"train", "query", "gallery"}
    rec = ds.records[0]
    row = plan.row(rec, "error", "unreadable", width=64)
    assert (row["relpath"], row["preset"], row["shape"], row["seed"], row["status"], row["width"]) == (
        rec.relpath, "default", "person", "0", "error", "64")


@pytest.mark.parametrize("shape, pasted", [("part", False), ("rectangle", False), ("person", True), ("scene", True)])
def test_donors_are_planned_for_pasted_shapes_only(tmp_path, market, shape, pasted):
    src, ds = market
    occlusion = preset_params("default", shape=shape)
    cfg = GenerateConfig(input=src, output=tmp_path / "out", parser=BOX, occlusion=occlusion)
    plan = RunPlan.build(cfg, ds.layout, ds.records)
    if not pasted:
        assert plan.donors is None
        return
    assert plan.donors == tuple((r.relpath, r.split, r.pid, str(src / r.relpath)) for r in ds.records)
    assert all(Path(d[3]).is_file() for d in plan.donors)


def test_a_shard_plan_owns_its_share_and_keeps_its_temporary_files_apart(tmp_path, market):
    src, ds = market
    out, shard = tmp_path / "out", Shard(1, 3)
    whole = RunPlan.build(GenerateConfig(input=src, output=out, parser=BOX), ds.layout, ds.records)
    part = RunPlan.build(replace(whole.config, shard=shard), ds.layout, ds.records)
    rels = [r.relpath for r in ds.records]
    mine = [rel for rel in rels if part.owns(rel)]
    assert mine == [rel for rel in rels if shard_of(rel, 3) == 1] and 0 < len(mine) < len(rels)
    assert all(whole.owns(rel) for rel in rels)
    assert part.tree.tmp == shard_tree(out, shard).tmp != OutputTree(out).tmp == whole.tree.tmp
    assert part.fingerprint == whole.fingerprint  # where the work runs changes no byte


class _Echo:
    """A stand-in worker: an engine may ask for nothing but ``process`` and ``save_parts``."""

    def __init__(self, parser=None, threads=None):
        self.parser = parser

    def process(self, records):
        return [(r, os.getpid()) for r in records]

    def save_parts(self, records):
        return len(records)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_engine_runs_whatever_worker_its_build_callable_makes(workers):
    """img2dataset's distributors: the engine knows nothing of a worker's insides (engines.py does not
    import worker.py); one worker runs in this process, more in a pool of their own."""
    assert "worker" not in import_graph()["engines"]
    cfg = GenerateConfig(input=Path("in"), output=Path("out"), workers=workers)
    chunks = [["a", "b"], ["c"], ["d", "e"]]
    engine = make_engine(cfg, _Echo, None, len(chunks))
    try:
        engine.save_parts(chunks)
        done = [item for chunk in engine.process(chunks) for item in chunk]
    finally:
        engine.close()
    assert sorted(r for r, _ in done) == ["a", "b", "c", "d", "e"]
    pids = {pid for _, pid in done}
    assert (pids == {os.getpid()}) if workers == 1 else (os.getpid() not in pids)


def test_generate_options_build_the_config_group_by_group(tmp_path, market):
    src, _ = market
    out = tmp_path / "out"
    ctx = generate.make_context("generate", [
        str(src), "--out", str(out), "--seed", "7", "-j", "3", "--preset", "paper", "--num-parts", "2",
        "--target", "0.2", "0.4", "--occlude", "query, gallery", "--jpeg-quality", "90", "--save-masks",
        "--shard", "1/4", "--no-progress"])
    options = dict(ctx.params)
    dataset, progress = options.pop("dataset"), options.pop("progress")
    assert progress is False
    cfg = config_from_options(dataset, options)
    assert cfg == GenerateConfig(
        input=src, output=out, seed=7, workers=3, parser_options=options_from_cli("mediapipe", {}),
        occlusion=preset_params("paper", num_parts=2, target=(0.2, 0.4)), preset="paper",
        splits=("query", "gallery"), jpeg_quality=90, save_masks=True, shard=Shard(1, 4))
    assert options["splits"] == "query, gallery"  # the caller's options are left as they were
