"""OccludeTransform refuses a dataset_root that is not the run's, and its epoch and counters are
shared with worker processes started before ``set_epoch`` (DataLoader's persistent workers)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset

from occreid.augment import OccludeTransform
from occreid.runner import GenerateConfig, generate

_T: OccludeTransform | None = None


def _init(transform):
    global _T
    _T = transform


def _probe(rel):
    """In a worker: the epoch it sees, and occlude one image (counting a missing map)."""
    _T(np.zeros((128, 64, 3), np.uint8), rel)
    return _T.epoch


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    src = shared_dataset("market1501-mini")
    out = tmp_path_factory.mktemp("aug") / "out"
    generate(GenerateConfig(input=src, output=out, parser="parsers:BoxParser", workers=1, save_parts=True))
    return src, out


def test_wrong_dataset_root_and_paths_outside_it_are_refused(run, tmp_path):
    src, out = run
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="holds none of the images"):
        OccludeTransform(out, dataset_root=tmp_path / "other")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        OccludeTransform(out, dataset_root=tmp_path / "nowhere")
    t = OccludeTransform(out, dataset_root=src)
    with pytest.raises(ValueError, match="not under dataset_root"):
        t(np.zeros((128, 64, 3), np.uint8), tmp_path / "x.jpg")


def test_set_epoch_and_counters_cross_persistent_workers(run):
    src, out = run
    t = OccludeTransform(out, dataset_root=src, epoch=0)
    ctx = mp.get_context("fork")
    with ctx.Pool(1, _init, (t,)) as pool:  # the worker exists before set_epoch, as persistent workers do
        assert pool.apply(_probe, ("query/none.jpg",)) == 0
        t.set_epoch(7)
        assert pool.apply(_probe, ("query/none2.jpg",)) == 7
    assert t.missing == 2  # counted in the worker, seen here
    t.set_epoch(None)
    assert t.epoch is None
    img = Path(src / "query").glob("*.jpg").__next__()
    assert t.read(img).size == (64, 128)
