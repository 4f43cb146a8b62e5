"""The generator end to end with a box-figure parser (fast, known output): layout mirrored,
determinism, resume after a kill, refusals, bad inputs. The real parser runs in test_generate_real."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset, tree_digest
from PIL import Image
from public_loaders import public_records

from occreid.cli import main
from occreid.datasets import read_dataset
from occreid.runner import GenerateConfig, RunError, generate

TESTS = Path(__file__).resolve().parent
BOX = "parsers:BoxParser"


def run(src, out, **kw):
    kw.setdefault("parser", BOX)
    return generate(GenerateConfig(input=Path(src), output=Path(out), **kw))


def cli(*args, env=None):
    """Run the real console entry point in a subprocess (so a kill there kills only it)."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)  # the code under test
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    return subprocess.run([sys.executable, "-m", "occreid.cli", *map(str, args)], env=full_env,
                          capture_output=True, text=True, timeout=300)


def _state_rows(out: Path) -> list:
    """The image rows committed to an output's run state (SQLite)."""
    import sqlite3

    with sqlite3.connect(out / "_occreid" / "state.sqlite") as db:
        return db.execute("SELECT relpath FROM files WHERE kind = 'image'").fetchall()


def test_ltcc_output_mirrors_the_input_and_reparses_to_its_labels(tmp_path):
    src = shared_dataset("ltcc-mini")
    result = run(src, tmp_path / "Occ_LTCC", workers=1)
    out = tmp_path / "Occ_LTCC"
    assert public_records("ltcc", out) == public_records("ltcc", src)
    assert result.summary["all"]["occluded"] == 416 and result.errors == 0
    for r in read_dataset(src).records[::37]:
        a, b = Image.open(src / r.relpath), Image.open(out / r.relpath)
        assert (a.size, a.mode, a.format) == (b.size, b.mode, b.format)
        diff = np.asarray(a).astype(int) - np.asarray(b).astype(int)
        assert diff.any() and (np.asarray(b)[diff.any(axis=2)] == 0).all()  # only black was added
    assert not any(out.glob("_occreid/tmp/*"))


def test_other_files_are_copied_unchanged(tmp_path):
    src = tmp_path / "prcc"
    shutil.copytree(shared_dataset("prcc-mini"), src)
    (src / "sketch" / "train").mkdir(parents=True)
    (src / "sketch" / "train" / "note.txt").write_text("sketch modality")
    (src / "README").write_text("readme")
    result = run(src, tmp_path / "occ_prcc", workers=1)
    assert result.copied == 2
    assert (tmp_path / "occ_prcc" / "sketch" / "train" / "note.txt").read_text() == "sketch modality"
    assert public_records("prcc", tmp_path / "occ_prcc") == public_records("prcc", src)


def test_same_seed_and_worker_count_give_identical_bytes_other_seed_differs(tmp_path):
    src = shared_dataset("market1501-mini")
    run(src, tmp_path / "a", seed=5, workers=1)
    run(src, tmp_path / "b", seed=5, workers=2)
    run(src, tmp_path / "c", seed=6, workers=2)
    a, b, c = (tree_digest(tmp_path / x) for x in "abc")
    assert a == b and len(a) == 96
    assert a != c
    ma, mb = ((tmp_path / x / "_occreid" / "manifest.csv").read_bytes() for x in "ab")
    assert ma == mb


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    src = shared_dataset("market1501-mini")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert cli("generate", src, "--out", whole, "--parser", BOX, "-j", "1", "--no-progress").returncode == 0
    killed = cli("generate", src, "--out", broken, "--parser", BOX, "-j", "1", "--no-progress",
                 env={"OCCREID_TEST_KILL_AFTER": "50"})
    assert killed.returncode == -9  # SIGKILL in the middle of the run
    journal = _state_rows(broken)
    assert 0 < len(journal) < 96 and not (broken / "_occreid" / "manifest.csv").exists()
    resumed = cli("generate", src, "--out", broken, "--parser", BOX, "-j", "1", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {len(journal)} images were already done" in resumed.stdout
    assert tree_digest(broken) == tree_digest(whole)
    assert (broken / "_occreid/manifest.csv").read_bytes() == (whole / "_occreid/manifest.csv").read_bytes()


def test_rerun_with_other_parameters_refuses_unless_overwrite(tmp_path):
    src, out = shared_dataset("market1501-mini"), tmp_path / "out"
    run(src, out, seed=1, workers=1)
    with pytest.raises(RunError, match="seed: was 1, now 2.*--overwrite"):
        run(src, out, seed=2, workers=1)
    result = run(src, out, seed=1, workers=1)  # same command: nothing left to do
    assert result.skipped == 96
    result = run(src, out, seed=2, workers=1, overwrite=True)
    assert result.skipped == 0 and {r.seed for r in result.rows} == {2}


def test_output_must_lie_outside_the_input(tmp_path):
    src = tmp_path / "data"
    shutil.copytree(shared_dataset("market1501-mini"), src)
    before = tree_digest(src, exclude_state=False)
    for out in (src, src / "occluded", tmp_path):
        with pytest.raises(RunError, match="input"):
            run(src, out)
    assert tree_digest(src, exclude_state=False) == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(RunError, match="not an occreid output"):
        run(src, tmp_path / "other")


def _png(arr, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_broken_and_odd_files_are_recorded_and_the_run_goes_on(tmp_path):
    src = tmp_path / "odd"
    src.mkdir()
    real = next(shared_dataset("market1501-mini").glob("query/*.jpg")).read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "ok.jpg": real,
        "zero.jpg": b"",
        "text.jpg": b"not an image at all\n",
        "truncated.jpg": real[: len(real) // 3],
        "tiny.jpg": (lambda b: (Image.new("RGB", (10, 10)).save(b, "JPEG"), b.getvalue())[1])(io.BytesIO()),
        "gray.png": _png(rng.integers(0, 255, (128, 64), dtype=np.uint8)),
        "rgba.png": _png(rng.integers(0, 255, (128, 64, 4), dtype=np.uint8)),
        "deep16.png": _png(rng.integers(0, 65535, (128, 64), dtype=np.uint16)),
        "uniform.png": _png(np.full((128, 64, 3), 7, np.uint8)),
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    before = tree_digest(src, exclude_state=False)
    res = cli("generate", src, "--layout", "folder", "--out", tmp_path / "out", "--parser", BOX, "--no-progress",
              "-j", "2")
    assert res.returncode == 1, res.stderr  # errors happened, and the run finished
    rows = {r["relpath"]: r for r in csv.DictReader(open(tmp_path / "out/_occreid/manifest.csv"))}
    assert set(rows) == set(files)
    expected = {"ok.jpg": "occluded", "zero.jpg": "error", "text.jpg": "error", "truncated.jpg": "error",
                "tiny.jpg": "error", "gray.png": "occluded", "rgba.png": "occluded", "deep16.png": "occluded",
                "uniform.png": "no_person"}
    assert {k: r["status"] for k, r in rows.items()} == expected
    assert "empty" in rows["zero.jpg"]["reason"] and "not an image" in rows["text.jpg"]["reason"]
    assert "too small" in rows["tiny.jpg"]["reason"] and rows["truncated.jpg"]["reason"]
    for name in ("gray.png", "rgba.png", "deep16.png"):
        a, b = Image.open(src / name), Image.open(tmp_path / "out" / name)
        assert (a.mode, a.size) == (b.mode, b.size)
    assert (tmp_path / "out/uniform.png").read_bytes() == files["uniform.png"]  # no person: unchanged
    assert (tmp_path / "out/zero.jpg").read_bytes() == b""  # an error keeps the file as it was
    assert tree_digest(src, exclude_state=False) == before  # the input is never written to
    assert "4 image(s) could not be used" in res.stderr


def test_saved_part_maps_are_reused_instead_of_parsing(tmp_path, monkeypatch):
    src = shared_dataset("market1501-mini")
    first = run(src, tmp_path / "a", workers=1, save_parts=True, save_masks=True)
    assert len(list((tmp_path / "a/_occreid/parts").rglob("*.png"))) == 96
    masks = list((tmp_path / "a/_occreid/masks").rglob("*.png"))
    assert len(masks) == 96
    monkeypatch.setenv("OCCREID_TEST_NO_PARSE", "1")  # any parse now fails
    again = run(src, tmp_path / "a", workers=1, seed=9, save_parts=True, save_masks=True, overwrite=True)
    assert again.errors == 0 and {r.seed for r in again.rows} == {9}
    other = run(src, tmp_path / "b", workers=1, parts_from=tmp_path / "a")
    assert other.errors == 0
    assert [r.part for r in other.rows] == [r.part for r in first.rows]  # same seed, same parts


def test_cli_warns_about_ltcc_paths_the_public_loaders_misread(tmp_path):
    src = shared_dataset("ltcc-mini")
    out = tmp_path / "occ_cc_out"
    result = CliRunner().invoke(main, ["generate", str(src), "--out", str(out), "--parser", BOX, "-j", "1",
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "WARNING" in text and "would misread 416 of 416 images" in text


def test_cli_help_and_usage_errors(tmp_path):
    runner = CliRunner()
    text = runner.invoke(main, ["generate", "--help"]).output
    for option in ("--out", "--layout", "--seed", "--workers", "--part-choice", "--save-parts", "--overwrite"):
        assert option in text
    (tmp_path / "in").mkdir()
    res = runner.invoke(main, ["generate", str(tmp_path / "in"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "matches no known dataset layout" in res.output
    res = runner.invoke(main, ["generate", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--parser", "schp"])
    assert res.exit_code == 2 and "--checkpoint" in res.output
