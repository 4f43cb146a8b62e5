"""Hostile cases around the generator (issue 18's periphery): an input's own ``_occreid/`` folder,
``stats --json`` and ``report --html`` written where they cannot be (under a file, a full disk),
``occreid crops`` on files that are not videos or show no one. Every command runs in a subprocess
and none may end in a traceback; each case asserts the README's exit code and one sentence."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from harness import BOX, Tmpfs, cli, dataset_copy, fill, one_sentence

from occreid.runner import GenerateConfig, generate


@pytest.fixture
def tmpfs(tmp_path):
    with Tmpfs(tmp_path) as mount:
        yield mount


@pytest.fixture(scope="module")
def small_output(tmp_path_factory):
    data, out = dataset_copy(tmp_path_factory, "ltcc-mini")
    generate(GenerateConfig(input=data, output=out, parser=BOX, save_parts=True, save_masks=True))
    return out


# -- an input's own _occreid/ folder ----------------------------------------------------------------
def test_every_file_under_an_inputs_occreid_folder_gets_a_row_and_a_reason(tmp_path):
    src = tmp_path / "market"
    shutil.copytree(shared_dataset("market1501-mini"), src)
    images = sorted((src / "bounding_box_train").glob("*.jpg"))
    reserved = src / "_occreid"
    (reserved / "parts" / "bounding_box_train").mkdir(parents=True)
    names = []
    for path in images[:24]:  # images named as the layout expects, and part-map-like files
        target = reserved / ("parts/bounding_box_train" if len(names) % 2 else "") / path.name
        shutil.copyfile(path, target)
        names.append(target.relative_to(src).as_posix())
    for i in range(8):
        (reserved / f"note{i}.txt").write_text("x")
        names.append(f"_occreid/note{i}.txt")
    nested = src / "bounding_box_train" / "_occreid"  # deeper: an ordinary folder, processed as the layout says
    nested.mkdir()
    shutil.copyfile(images[0], nested / images[0].name)
    n_images = sum(1 for p in src.rglob("*.jpg") if "_occreid" not in p.parts)
    out = tmp_path / "out"
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 1, res.stdout + res.stderr  # README: other files skipped -> 1
    with open(out / "_occreid" / "other_files.csv", newline="", encoding="utf-8") as fh:
        others = {r["relpath"]: r for r in csv.DictReader(fh)}
    assert len(names) == 32
    for name in names:
        assert others[name]["action"] == "skipped" and "reserves for its own state" in others[name]["reason"], name
    with open(out / "_occreid" / "manifest.csv", newline="", encoding="utf-8") as fh:
        manifest = {r["relpath"] for r in csv.DictReader(fh)}
    assert len(manifest) == n_images and not any(r.startswith("_occreid/") for r in manifest)
    nested_rel = f"bounding_box_train/_occreid/{images[0].name}"
    assert nested_rel in manifest or others[nested_rel]["action"] == "copied"
    assert not (out / "_occreid" / "note0.txt").exists()  # nothing of the input's state mixed into ours


# -- stats --json, report --html --------------------------------------------------------------------
def test_stats_json_into_a_missing_folder_is_written(small_output, tmp_path):
    target = tmp_path / "new" / "deeper" / "stats.json"
    res = cli("stats", small_output, "--json", target)
    assert res.returncode == 0 and target.is_file(), res.stderr


@pytest.mark.parametrize("command, option, name, words", [("stats", "--json", "stats.json", "cannot write"),
                                                       ("report", "--html", "index.html", "cannot write the report")])
def test_stats_json_or_report_under_a_file_exits_3(small_output, tmp_path, command, option, name, words):
    (tmp_path / "file").write_text("x")
    res = cli(command, small_output, option, tmp_path / "file" / name)
    assert res.returncode == 3 and words in one_sentence(res)


def test_stats_json_on_a_full_disk_exits_3_and_leaves_nothing(small_output, tmpfs):
    disk = tmpfs("64k")
    fill(disk)
    res = cli("stats", small_output, "--json", disk / "stats.json")
    assert res.returncode == 3 and "No space left" in one_sentence(res)
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_report_on_a_full_disk_exits_3_and_keeps_the_previous_report_whole(small_output, tmpfs):
    disk = tmpfs("4m")
    html = disk / "report" / "index.html"
    assert cli("report", small_output, "--html", html).returncode == 0
    before = {p.relative_to(disk): p.read_bytes() for p in disk.rglob("*") if p.is_file()}
    fill(disk)
    res = cli("report", small_output, "--html", html, "--seed", "1")
    assert res.returncode == 3 and "No space left" in one_sentence(res)
    after = {p.relative_to(disk): p.read_bytes() for p in disk.rglob("*") if p.is_file() and p.name != "filler"}
    assert after == before  # the earlier page and its images, untouched; no temporary file left


# -- occreid crops ----------------------------------------------------------------------------------
def _still_video(path: Path) -> Path:
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG videos")
    for i in range(12):
        writer.write(np.full((240, 320, 3), 100 + i, np.uint8))  # a grey wall: nobody
    writer.release()
    return path


@pytest.mark.parametrize("kind, code, words", [
    ("text", 2, "not a video"),
    ("empty", 2, "is empty"),
    ("missing", 2, "does not exist"),
    ("fifo", 2, "not a regular file"),
    ("nobody", 1, "no person found"),
])
def test_crops_on_what_is_not_a_video_of_people(tmp_path, kind, code, words):
    video = tmp_path / "in.avi"
    if kind == "text":
        video.write_text("this is not a video\n" * 100)
    elif kind == "empty":
        video.write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(video)
    elif kind == "nobody":
        _still_video(video)
    res = cli("crops", video, "--out", tmp_path / "crops", timeout=60)
    assert res.returncode == code, res.stdout + res.stderr
    assert words in res.stderr, res.stderr
    assert not (tmp_path / "crops").exists()


@pytest.mark.parametrize("name", ["manifest.csv", "summary.json", "run.json"])
def test_a_fifo_in_place_of_the_runs_own_files_never_blocks_stats_or_report(small_output, tmp_path, name):
    out = tmp_path / "out"
    shutil.copytree(small_output, out, ignore=shutil.ignore_patterns("state.sqlite*", "*.lock"))
    (out / "_occreid" / name).unlink()
    os.mkfifo(out / "_occreid" / name)
    for args in (("stats", out), ("report", out, "--html", tmp_path / "r" / "index.html")):
        res = cli(*args, timeout=60)
        if name == "run.json":
            assert res.returncode == 0, res.stderr  # stats reads the manifest alone; report does without it
            continue
        assert res.returncode == 2 and name in one_sentence(res), res.stderr
