"""`evaluate` and `embed` refuse damaged or mismatched features with one sentence; a features file
records the tree it was computed on, and features of one tree are refused for another."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset

from occreid.cli import main
from occreid.datasets import read_dataset
from occreid.evaluation.embed import load_features, save_features, tree_fingerprint
from occreid.evaluation.protocols import FeatureError, FeatureTable, evaluation_records


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    src = base / "market"
    shutil.copytree(shared_dataset("market1501-mini"), src)
    ds = read_dataset(src)
    recs = evaluation_records(ds)
    feats = np.random.default_rng(0).normal(size=(len(recs), 16)).astype(np.float32)
    table = FeatureTable([r.relpath for r in recs], feats)
    path = base / "orig.npz"
    save_features(path, table, src)
    return src, ds, table, path


def _npz(path: Path, paths, feats) -> Path:
    np.savez(path, paths=np.array(paths, dtype=str), features=feats)
    return path


def test_features_record_their_tree_and_load_back(market):
    src, ds, table, path = market
    with np.load(path) as z:
        assert str(z["root"]) == str(src.resolve())
        assert str(z["tree_fingerprint"]) == tree_fingerprint(src, table.paths)
    back = load_features(path, ds)
    assert back.paths == table.paths and np.array_equal(back.features, table.features)


def test_features_of_another_tree_are_refused_unless_allowed(market, tmp_path):
    src, ds, table, path = market
    twin = tmp_path / "twin"
    shutil.copytree(src, twin)
    victim = twin / table.paths[0]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # same names, other bytes
    twin_ds = read_dataset(twin)
    with pytest.raises(FeatureError, match="computed on another tree.*--allow-other-tree"):
        load_features(path, twin_ds)
    assert load_features(path, twin_ds, allow_other_tree=True).paths == table.paths
    res = CliRunner().invoke(main, ["evaluate", str(twin), "-f", str(path), "--no-progress"])
    assert res.exit_code != 0 and "another tree" in " ".join(res.output.split())


@pytest.mark.parametrize("kind,message", [
    ("npy", "single array"),
    ("empty", "empty"),
    ("garbage", "not a features .npz"),
    ("zeros", "all zero"),
    ("n_by_0", "N, D > 0"),
    ("nan", "NaN or infinity"),
    ("complex", "real numbers"),
    ("same", "same vector"),
    ("missing", "lacks the array"),
    ("outside", "not under the dataset root"),
])
def test_damaged_features_are_refused_with_one_sentence(market, tmp_path, kind, message):
    src, ds, table, _ = market
    n = len(table.paths)
    f = tmp_path / "f.npz"
    if kind == "npy":
        np.save(tmp_path / "f.npy", table.features)
        (tmp_path / "f.npy").rename(f)
    elif kind == "empty":
        f.write_bytes(b"")
    elif kind == "garbage":
        f.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    elif kind == "zeros":
        _npz(f, table.paths, np.zeros((n, 8), np.float32))
    elif kind == "n_by_0":
        _npz(f, table.paths, np.zeros((n, 0), np.float32))
    elif kind == "nan":
        feats = table.features.copy()
        feats[3, 2] = np.nan
        _npz(f, table.paths, feats)
    elif kind == "complex":
        _npz(f, table.paths, table.features.astype(np.complex64))
    elif kind == "same":
        _npz(f, table.paths, np.ones((n, 8), np.float32))
    elif kind == "missing":
        np.savez(f, features=table.features)
    elif kind == "outside":
        _npz(f, ["/elsewhere/" + p for p in table.paths], table.features)
    with pytest.raises(FeatureError, match=message):
        load_features(f, ds)
    res = CliRunner().invoke(main, ["evaluate", str(src), "-f", str(f), "--no-progress"])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output and "Aborted" not in res.output


def test_absolute_paths_under_the_root_are_made_relative(market, tmp_path):
    src, ds, table, _ = market
    f = _npz(tmp_path / "abs.npz", [str(src.resolve() / p) for p in table.paths], table.features)
    assert load_features(f, ds).paths == table.paths
