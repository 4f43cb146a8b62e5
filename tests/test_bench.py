"""occreid bench on the real shared LTCC crops, with part maps saved once per session by the box parser.

What is checked: a cell equals generate --parts-from --target + evaluate made by hand (baseline and a
TorchScript model); mINP against a plain per-query loop; perfect features score 100 everywhere; the
summary equals its definition on a hand-made grid; more severity never helps the baseline on average;
a bench interrupted after some cells resumes without scoring or embedding them again; the CLI's
outputs, comparison and one-sentence errors.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset

from occreid.bench import BenchConfig, PinnedOccluder, parse_severities, run_bench, summarize
from occreid.bench.cli import write_outputs
from occreid.bench.features import BaselineEmbedder, Embedder
from occreid.bench.grid import BenchError, Severity, cell_params, parse_parts
from occreid.bench.summary import normalised, relative_drop
from occreid.cli import main
from occreid.datasets import read_dataset
from occreid.evaluation import baseline_features, evaluate_dataset, settings
from occreid.evaluation.metrics import CosineDistance, evaluate, label_masks
from occreid.occlusion import image_rng, preset_params
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"


@pytest.fixture(scope="module")
def ltcc():
    return shared_dataset("ltcc-mini")


@pytest.fixture(scope="module")
def parts_run(ltcc, tmp_path_factory):
    """Saved part maps of every ltcc-mini image (box parser), made once for this module."""
    out = tmp_path_factory.mktemp("parts") / "run"
    generate(GenerateConfig(input=ltcc, output=out, parser=BOX, save_parts=True, workers=1))
    return out


def _cfg(ltcc, parts_run, out, parts="any", severities="40-60", seeds=(1,), protocol="query"):
    return BenchConfig(dataset=ltcc, parts_from=parts_run, out=out, parts=parse_parts(parts),
                       severities=parse_severities(severities), seeds=tuple(seeds), protocol=protocol)


@pytest.fixture(scope="module")
def baseline_grid(ltcc, parts_run, tmp_path_factory):
    """The baseline over every row and four severities, one seed: shared by the tests that read a grid."""
    out = tmp_path_factory.mktemp("bench") / "grid"
    result = run_bench(_cfg(ltcc, parts_run, out, "any,head,torso,lower_legs", "10-20,20-40,40-60,60-80", (0,)),
                       BaselineEmbedder(1))
    write_outputs(result.report, out)
    return result, out


def _hand_cell(ltcc, parts_run, tmp_path, severity: Severity, seed: int, protocol: str) -> Path:
    """The cell as a user makes it: occreid generate --parts-from RUN --target LO HI --seed S [--occlude query]."""
    out = tmp_path / "hand"
    generate(GenerateConfig(input=ltcc, output=out, parser=BOX, parts_from=parts_run, seed=seed, workers=1,
                            occlusion=preset_params("default", target=(severity.lo, severity.hi)),
                            splits=("query",) if protocol == "query" else None))
    return out


def _loop_minp(qf, gf, q_pid, g_pid, q_cam, g_cam, q_clo, g_clo, rule) -> float:
    """fast-reid's evaluate_rank INP, one query at a time."""
    good_fn, junk_fn = label_masks(q_pid, g_pid, q_cam, g_cam, q_clo, g_clo, rule)
    dist = np.asarray(CosineDistance(qf, gf))
    inps = []
    for i in range(len(q_pid)):
        order = np.argsort(dist[i], kind="stable")
        good, junk = good_fn(slice(i, i + 1))[0][order], junk_fn(slice(i, i + 1))[0][order]
        matches = good[~junk]
        if not matches.any():
            continue
        last = np.where(matches)[0].max()
        inps.append(matches.sum() / (last + 1))
    return float(np.mean(inps)) if inps else float("nan")


@pytest.mark.parametrize("protocol", ["query", "both"])
def test_cell_equals_generate_and_evaluate_by_hand(ltcc, parts_run, tmp_path, protocol):
    result = run_bench(_cfg(ltcc, parts_run, tmp_path / "b", protocol=protocol), BaselineEmbedder(1))
    hand = _hand_cell(ltcc, parts_run, tmp_path, Severity(0.4, 0.6), 1, protocol)
    ds = read_dataset(hand)
    table = baseline_features(ds, workers=1)
    by_hand = {s.key: m.as_dict() for s, m in evaluate_dataset(ds, table, single_shot_repeats=0)}
    cells = [c for c in result.report["cells"] if c["part"] == "any"]
    assert {c["setting"] for c in cells} == set(by_hand)
    for c in cells:
        assert c["rank1"] == by_hand[c["setting"]]["rank1"]
        assert c["mAP"] == by_hand[c["setting"]]["mAP"]
    # mINP against a per-query loop on the hand-made twin's features
    for s in settings(ds, single_shot_repeats=0):
        q, g = list(s.query), list(s.gallery)
        clo = {c: i for i, c in enumerate(sorted({str(r.clothes) for r in q + g}))}
        expected = _loop_minp(table.rows(q), table.rows(g), [r.pid for r in q], [r.pid for r in g],
                              [r.camera for r in q], [r.camera for r in g], [clo[str(r.clothes)] for r in q],
                              [clo[str(r.clothes)] for r in g], s.rule)
        got = next(c["mINP"] for c in cells if c["setting"] == s.key)
        if got is not None:
            assert got == pytest.approx(100 * expected, abs=1e-3)
    # the measured share is the manifest's mean person fraction over the queries
    assert 40 <= cells[0]["occluded_share"] <= 60


def test_model_cell_equals_embed_and_evaluate(ltcc, parts_run, tmp_path):
    torch = pytest.importorskip("torch")
    import warnings

    from occreid.bench.features import ModelEmbedder
    from occreid.evaluation import Preprocess, embed_dataset, load_model

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 8, 5, stride=4)

        def forward(self, x):
            return torch.relu(self.conv(x)).mean(dim=(2, 3))

    path = tmp_path / "tiny.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Tiny()).save(str(path))
    pre = Preprocess(64, 32)
    result = run_bench(_cfg(ltcc, parts_run, tmp_path / "b", severities="20-40", seeds=(2,)),
                       ModelEmbedder(path, pre, 32, True, "cpu", 1))
    hand = _hand_cell(ltcc, parts_run, tmp_path, Severity(0.2, 0.4), 2, "query")
    ds = read_dataset(hand)
    table = embed_dataset(ds, load_model(path), pre, batch_size=32, workers=1)
    by_hand = {s.key: m.as_dict() for s, m in evaluate_dataset(ds, table, single_shot_repeats=0)}
    for c in result.report["cells"]:
        assert (c["rank1"], c["mAP"]) == (by_hand[c["setting"]]["rank1"], by_hand[c["setting"]]["mAP"])


class OracleEmbedder(Embedder):
    """Perfect features: each image's feature is the one-hot vector of its identity."""

    key = name = "oracle"

    def __init__(self, ltcc):
        self.pids = {r.relpath: r.pid for r in read_dataset(ltcc).records}
        self.index = {p: i for i, p in enumerate(sorted(set(self.pids.values())))}
        self.calls = 0

    def embed(self, items, progress=None):
        self.calls += 1
        out = np.zeros((len(items), len(self.index)), np.float32)
        for i, (rel, _) in enumerate(items):
            out[i, self.index[self.pids[rel]]] = 1.0
        return out


def test_perfect_features_score_100_in_every_cell(ltcc, parts_run, tmp_path):
    result = run_bench(_cfg(ltcc, parts_run, tmp_path / "b", "any,head,lower_legs", "10-20,60-80", (0,)),
                       OracleEmbedder(ltcc))
    rows = [{"setting": k, **v} for k, v in result.report["clean"].items()] + result.report["cells"]
    scored = [r for r in rows if r["rank1"] is not None]
    assert len(scored) >= 7  # clean and 6 cells in the settings that have matches
    for r in scored:
        assert (r["rank1"], r["mAP"], r["mINP"]) == (100.0, 100.0, 100.0)
    assert result.report["summary"]["headline"] == 0.0


def test_minp_by_hand():
    # gallery sorted by distance: wrong, good, junk, wrong, good -> after junk removal good at ranks 2 and 4
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    good = np.array([[False, True, False, False, True]])
    junk = np.array([[False, False, True, False, False]])
    assert evaluate(dist, good, junk, max_rank=5).mINP == pytest.approx(2 / 4)  # the bench's mINP is evaluate's
    assert np.isnan(evaluate(dist, np.zeros_like(good), junk, max_rank=5).mINP)  # no query with a match


def test_summary_is_its_definition_on_a_hand_made_grid():
    grid = {"parts": ["any", "head", "torso"], "severities": ["10-20", "40-60"], "seeds": [0, 1]}
    clean = {"s": {"rank1": 80.0, "mAP": 50.0, "mINP": 20.0}}
    values = {("any", "10-20"): (40, 30), ("any", "40-60"): (30, 20), ("head", "10-20"): (45, 35),
              ("head", "40-60"): (25, 25), ("torso", "10-20"): (50, 40), ("torso", "40-60"): (10, 20)}
    cells = [{"setting": "s", "part": p, "severity": s, "seed": k, "rank1": 80.0, "mAP": float(v), "mINP": 20.0,
              "occluded_share": 30.0} for (p, s), pair in values.items() for k, v in enumerate(pair)]
    out = summarize(clean, cells, grid)
    d = {key: np.mean([100 * (50 - v) / 50 for v in pair]) for key, pair in values.items()}
    assert out["rows_averaged"] == ["head", "torso"]  # the body-part rows; 'any' is reported beside them
    assert out["mRD"]["settings"]["s"]["mAP"] == pytest.approx(
        np.mean([d["head", "10-20"], d["head", "40-60"], d["torso", "10-20"], d["torso", "40-60"]]), abs=1e-4)
    assert out["headline"] == out["mRD"]["all"]["mAP"] == out["mRD"]["settings"]["s"]["mAP"]
    assert out["per_part"]["s"]["any"]["mAP"] == pytest.approx((d["any", "10-20"] + d["any", "40-60"]) / 2, abs=1e-4)
    assert out["per_severity"]["s"]["40-60"]["mAP"] == pytest.approx(
        (d["head", "40-60"] + d["torso", "40-60"]) / 2, abs=1e-4)
    assert out["mRD"]["settings"]["s"]["rank1"] == 0.0
    head = next(c for c in out["cells"] if c["part"] == "head" and c["severity"] == "10-20")
    assert head["mAP_mean"] == 40.0 and head["mAP_std"] == pytest.approx(np.std([45, 35], ddof=1), abs=1e-4)
    assert relative_drop(0.0, 10.0) is None and relative_drop(None, 1.0) is None
    other = {"layout": "x", "grid": grid, "protocol": "query", "settings": {"s": "s"},
             "summary": {"mRD": {"all": {"rank1": 10.0, "mAP": 20.0, "mINP": 5.0}}}}
    model = {**other, "summary": {"mRD": {"all": {"rank1": 5.0, "mAP": 10.0, "mINP": 5.0}}}}
    assert normalised(model, other) == {"rank1": 50.0, "mAP": 50.0, "mINP": 100.0}
    assert normalised(model, {**other, "protocol": "both"}) is None


def test_more_severity_never_helps_the_baseline_on_average(baseline_grid):
    result, _ = baseline_grid
    s = result.report["summary"]
    for setting, by_sev in s["per_severity"].items():
        drops = [v["mAP"] for v in by_sev.values()]
        if drops[0] is None:
            continue
        assert drops == sorted(drops), (setting, drops)
        assert drops[-1] > drops[0]
    shares = [c["occluded_share"] for c in s["cells"] if c["part"] == "any"][:4]
    assert shares == sorted(shares)


def test_pinned_part_is_always_covered_and_absent_parts_leave_the_image():
    parts = np.zeros((128, 64), np.uint8)
    parts[8:20, 24:40], parts[20:64, 16:48], parts[64:96, 16:48], parts[96:120, 16:48] = 1, 2, 5, 6
    params = cell_params(Severity(0.4, 0.6))
    for seed in range(20):
        occ = PinnedOccluder(params, "head").plan(parts, image_rng(seed, "x.png"))
        assert 1 in occ.parts and occ.mask[parts == 1].all()
        assert 0.4 <= occ.person_fraction <= 0.6
    absent = PinnedOccluder(params, "upper_arms").plan(parts, image_rng(0, "x.png"))
    assert absent.status == "part_absent" and not absent.mask.any()


def test_interrupted_bench_resumes_without_redoing_cells(ltcc, parts_run, tmp_path):
    out = tmp_path / "b"
    cfg = _cfg(ltcc, parts_run, out, "any,torso", "40-60", (0, 1))

    class Stop(Exception):
        pass

    scored = []

    def stop_after_three(cell):
        scored.append(cell)
        if len(scored) == 3:
            raise Stop

    first = OracleEmbedder(ltcc)
    with pytest.raises(Stop):
        run_bench(cfg, first, after_cell=stop_after_three)
    again = OracleEmbedder(ltcc)
    resumed = run_bench(cfg, again)
    assert (resumed.kept, resumed.computed) == (3, 5 - 3)
    # the clean row (320 images) was embedded before the interruption: only the two new cells' queries are
    assert resumed.embedded <= 2 * 64
    whole = run_bench(_cfg(ltcc, parts_run, tmp_path / "whole", "any,torso", "40-60", (0, 1)), OracleEmbedder(ltcc))
    assert resumed.report["cells"] == whole.report["cells"]
    third = run_bench(cfg, OracleEmbedder(ltcc))
    assert (third.kept, third.computed, third.embedded) == (5, 0, 0)
    assert not (out / "_work").exists()


def test_cli_outputs_compare_and_stay_inside_out(ltcc, parts_run, baseline_grid, tmp_path):
    _, grid_out = baseline_grid
    out = tmp_path / "cli"
    args = ["bench", str(ltcc), "--parts-from", str(parts_run), "--out", str(out), "--parts", "any,head",
            "--severities", "20-40,60-80", "--seeds", "1", "--no-progress", "--json", str(out / "copy.json")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    report = json.loads((out / "bench.json").read_text())
    assert set(report) >= {"clean", "cells", "summary"}
    assert (out / "copy.json").read_text() == (out / "bench.json").read_text()
    assert {"rank1", "mAP", "mINP"} <= set(report["clean"]["general"])
    assert {"part", "severity", "seed", "setting", "rank1", "mAP", "mINP", "occluded_share"} <= set(report["cells"][0])
    header = (out / "bench.csv").read_text().splitlines()[0]
    assert header.startswith("kind,part,severity,seed,setting,rank1,mAP,mINP,occluded_share")
    page = (out / "index.html").read_text()
    assert "Relative mAP drop" in page and "bench_assets/curves_0.svg" in page and "<script" not in page
    assert "cells: 5 scored now, 0 kept" in res.output
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve()) and not p.is_symlink()
    res = CliRunner().invoke(main, ["bench", "--compare", str(grid_out / "bench.json"), str(grid_out / "bench.json")])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "#2" in x)
    assert line.rstrip(" │").endswith("100.0")  # the baseline against itself: nRD 100
    res = CliRunner().invoke(main, ["bench", "--compare", str(out / "bench.json"), str(grid_out / "bench.json")])
    assert res.exit_code == 2 and "same grid" in res.output


@pytest.mark.parametrize("extra, message", [
    (["--severities", "20-10"], "low < high"),
    (["--parts", "head,tail"], "unknown part"),
    (["--occlude", "gallery"], "Invalid value"),
])
def test_cli_configuration_errors_are_one_sentence(ltcc, parts_run, tmp_path, extra, message):
    res = CliRunner().invoke(main, ["bench", str(ltcc), "--parts-from", str(parts_run), "--out", str(tmp_path / "o"),
                                    "--no-progress", *extra])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_cli_refuses_unusable_inputs_and_links(ltcc, parts_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["bench", str(ltcc), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--parts-from" in res.output
    empty = tmp_path / "empty"
    generate(GenerateConfig(input=ltcc, output=empty, parser=BOX, workers=1))  # no --save-parts: no maps
    res = runner.invoke(main, ["bench", str(ltcc), "--parts-from", str(empty), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and re.search(r"no usable part map for \d+ of", res.output)
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, tmp_path / "link")
    res = runner.invoke(main, ["bench", str(ltcc), "--parts-from", str(parts_run), "--out", str(tmp_path / "link")])
    assert res.exit_code == 2 and "symbolic link" in res.output and not any(target.iterdir())
    res = runner.invoke(main, ["bench", str(ltcc), "--parts-from", str(parts_run), "--out", str(ltcc / "bench")])
    assert res.exit_code == 2 and "overlaps the dataset" in res.output
    with pytest.raises(BenchError):
        parse_severities("10-20,10-20")


def test_one_bench_at_a_time_per_folder(tmp_path):
    from occreid.bench.store import BenchStore

    first = BenchStore(tmp_path)
    try:
        with pytest.raises(BenchError, match="another occreid bench is running"):
            BenchStore(tmp_path)
    finally:
        first.close()
    BenchStore(tmp_path).close()  # released: the next one opens
