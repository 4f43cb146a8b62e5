"""The generator tried as a hostile user would: a tree of 50 kinds of bad or odd files and names,
a damaged run state, kill -9 at several phases, Ctrl-C, a full disk, an unwritable output,
configuration mistakes. Each case asserts the row, the reason, the exit code, an unchanged input
tree and, after the fault, byte-identical final output. The box parser keeps it fast."""

from __future__ import annotations

import csv
import fcntl
import io
import os
import shutil
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from harness import BOX, Tmpfs, cli, dataset_copy, output_digest, run_box, snapshot
from PIL import Image

from occreid.cli import main
from occreid.state import StateError
from occreid.status import Status
from occreid.writer import ManifestError, ManifestRow, read_manifest


# -- the hostile tree ----------------------------------------------------------------------
def _img(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (grey), with a tiny IDAT: costs nothing until decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def make_hostile_tree(root: Path) -> tuple[dict, dict]:
    """Write the tree; return (image relpath -> (status, reason part), other relpath -> (action, reason part)).
    Relpaths are str with non-UTF-8 bytes as surrogates, as occreid reads them."""
    root.mkdir()
    real = next(shared_dataset("market1501-mini").glob("query/*.jpg")).read_bytes()
    rgb = Image.open(io.BytesIO(real)).convert("RGB")
    rng = np.random.default_rng(0)
    images: dict[str, tuple[str, str]] = {}
    others: dict[str, tuple[str, str]] = {}

    def put(name, data, status="occluded", reason=""):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        images[name] = (status, reason)

    for name in ("plain.jpg", "with space.jpg", "comma,name.jpg", 'quote"name.jpg', "new\nline.jpg",
                 "carriage\rreturn.jpg", "caf\u00e9.jpg", "cafe\u0301.jpg", "-dash.jpg", "L" * 200 + ".jpg",
                 ".hidden.jpg", "UPPER.JPG", "tab\tname.jpg", "emoji\U0001F600.jpg", "a/b/c/d/deep.jpg",
                 os.fsdecode(b"bad\xffutf8.jpg"), os.fsdecode(b"sub\xfe/inner.jpg")):
        put(name, real)
    os.symlink("plain.jpg", root / "link_ok.jpg")
    images["link_ok.jpg"] = ("occluded", "")
    put("png_content.jpg", _img(rgb, "PNG"))
    put("jpeg_content.png", real)
    put("empty.jpg", b"", "error", "empty file")
    put("text.jpg", b"just some text\n", "error", "not an image")
    put("truncated.jpg", real[: len(real) // 3], "error", "")
    put("tiny.jpg", _img(Image.new("RGB", (10, 10)), "JPEG"), "error", "too small")
    os.symlink("nowhere.jpg", root / "broken_link.jpg")
    images["broken_link.jpg"] = ("error", "broken symbolic link")
    os.symlink("loop_b.jpg", root / "loop_a.jpg")
    os.symlink("loop_a.jpg", root / "loop_b.jpg")
    os.symlink("self_loop.jpg", root / "self_loop.jpg")
    for n in ("loop_a.jpg", "loop_b.jpg", "self_loop.jpg"):
        images[n] = ("error", "symbolic link loop")
    put("dir_named.jpg/inner.png", _img(rgb, "PNG"))
    images["dir_named.jpg"] = ("error", "a folder, not an image file")
    os.mkfifo(root / "fifo.jpg")
    images["fifo.jpg"] = ("error", "not a regular file (a FIFO)")
    os.symlink("a", root / "dirlink.jpg")
    images["dirlink.jpg"] = ("error", "symbolic link to a folder")
    put("bomb.png", _png_bomb(30000, 30000), "error", "image too large")
    put("big.jpg", real + b"\0" * 300_000, "error", "file too large")
    frames = [Image.new("RGB", (64, 128), (80 * i, 40, 200 - 60 * i)) for i in range(3)]
    put("animated.png", _img(frames[0], "GIF", save_all=True, append_images=frames[1:]), "error", "animated")
    put("deep16.png", _img(Image.fromarray(rng.integers(0, 65535, (128, 64), dtype=np.uint16)), "PNG"))
    pal = rgb.quantize(64)
    put("palette_t.png", _img(pal, "PNG", transparency=0))
    put("cmyk.jpg", _img(rgb.convert("CMYK"), "JPEG"))
    put("progressive.jpg", _img(rgb, "JPEG", progressive=True, quality=90))
    put("gray.jpg", _img(rgb.convert("L"), "JPEG"))
    put("rgba.png", _img(rgb.convert("RGBA"), "PNG"))
    put("uniform.png", _img(Image.new("RGB", (64, 128), (9, 9, 9)), "PNG"), "no_person", "uniform")
    put("lossy.webp", _img(rgb, "WEBP", quality=80))
    put("image.bmp", _img(rgb, "BMP"))
    put("image.tif", _img(rgb, "TIFF"))
    put("html.png", b"<html><body>not a png</body></html>", "error", "not an image")
    put("random.png", rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "error", "not an image")
    put("zero.png", b"", "error", "empty file")
    # other files: copied, or skipped with the reason
    (root / "notes.txt").write_text("a note")
    others["notes.txt"] = ("copied", "")
    (root / os.fsdecode(b"bad\xfe.txt")).write_text("x")
    others[os.fsdecode(b"bad\xfe.txt")] = ("copied", "")
    (root / "new\nline.txt").write_text("y")
    others["new\nline.txt"] = ("copied", "")
    os.symlink("missing.txt", root / "broken_note.txt")
    others["broken_note.txt"] = ("skipped", "broken symbolic link")
    os.mkfifo(root / "fifo.txt")
    others["fifo.txt"] = ("skipped", "not a regular file (a FIFO)")
    os.symlink("a", root / "dirlink_other")
    others["dirlink_other"] = ("skipped", "symbolic link to a folder")
    return images, others


def _rows(out: Path) -> dict[str, ManifestRow]:
    return {r.relpath: r for r in read_manifest(out)}


def _other_rows(out: Path) -> dict[str, dict]:
    text = (out / "_occreid" / "other_files.csv").read_bytes().decode("utf-8", "surrogateescape")
    return {r["relpath"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}


def test_hostile_tree_every_file_gets_a_row_and_a_reason_and_resumes_identically(tmp_path):
    src = tmp_path / "hostile"
    images, others = make_hostile_tree(src)
    assert len(images) + len(others) >= 50
    before = snapshot(src)
    args = ("generate", src, "--layout", "folder", "--parser", BOX, "--no-progress", "--max-file-size", "200000")
    res = cli(*args, "--out", tmp_path / "out", "-j", "1")
    assert res.returncode == 1, res.stderr
    rows = _rows(tmp_path / "out")
    expected = {**images, "dir_named.jpg/inner.png": ("occluded", "")}
    assert set(rows) == set(expected)
    for rel, (status, reason) in expected.items():
        assert rows[rel].status == status, (rel, rows[rel])
        assert reason in rows[rel].reason, (rel, rows[rel].reason)
    out = tmp_path / "out"
    other_rows = _other_rows(out)
    assert set(other_rows) == set(others)
    for rel, (action, reason) in others.items():
        assert other_rows[rel]["action"] == action and reason in other_rows[rel]["reason"], (rel, other_rows[rel])
    # names round-trip: each occluded row's file exists under its exact name
    for rel, r in rows.items():
        if r.status == "occluded":
            assert (out / rel).is_file(), rel
    # formats and modes kept
    for name, fmt, mode in (("cmyk.jpg", "JPEG", "CMYK"), ("palette_t.png", "PNG", "P"), ("deep16.png", "PNG", "I;16"),
                            ("gray.jpg", "JPEG", "L"), ("rgba.png", "PNG", "RGBA"), ("png_content.jpg", "PNG", "RGB"),
                            ("image.bmp", "BMP", "RGB"), ("image.tif", "TIFF", "RGB"), ("lossy.webp", "WEBP", "RGB")):
        im = Image.open(out / name)
        assert (im.format, im.mode) == (fmt, mode), name
    assert Image.open(out / "progressive.jpg").info.get("progressive")
    assert (out / "palette_t.png").exists() and Image.open(out / "palette_t.png").info.get("transparency") == 0
    assert (out / "lossy.webp").stat().st_size < 2 * (src / "lossy.webp").stat().st_size
    assert (out / "notes.txt").read_text() == "a note"
    assert snapshot(src) == before  # the input tree is never modified
    first = output_digest(out)
    # a rerun verifies and keeps everything; the same bytes
    again = cli(*args, "--out", out, "-j", "1")
    assert again.returncode == 1
    done = sum(r.status != "error" for r in rows.values())
    assert f"resumed: {done} images were already done" in again.stdout
    assert output_digest(out) == first
    # two workers give the same bytes
    two = cli(*args, "--out", tmp_path / "out2", "-j", "2")
    assert two.returncode == 1
    assert output_digest(tmp_path / "out2") == first
    assert snapshot(src) == before


# -- the run state: damage, edits, kills ----------------------------------------------------
@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """market1501-mini copied (so inputs can be changed) and its whole output (the reference)."""
    src, whole = dataset_copy(tmp_path_factory, "market1501-mini")
    assert cli("generate", src, "--out", whole, "--parser", BOX, "-j", "1", "--no-progress").returncode == 0
    return src, whole


def _db(out: Path):
    return sqlite3.connect(out / "_occreid" / "state.sqlite")


def _damaged_copy(market, tmp_path) -> Path:
    src, whole = market
    out = tmp_path / "out"
    shutil.copytree(whole, out, symlinks=True)
    return out


@pytest.mark.parametrize("damage", [
    "edit_row", "nul_value", "truncate_output", "delete_output", "garbage_output", "truncate_run_json",
    "truncate_manifest", "delete_manifest", "append_bytes_to_state", "edit_params",
])
def test_damaged_state_or_outputs_are_redone_from_what_verifies(market, tmp_path, damage):
    src, whole = market
    out = _damaged_copy(market, tmp_path)
    victim = "query/" + sorted(p.name for p in (src / "query").glob("*.jpg"))[3]
    state = out / "_occreid"
    if damage == "edit_row":
        with _db(out) as db:
            db.execute("UPDATE files SET row = replace(row, '\"occluded\"', '\"no_person\"') WHERE relpath = ?",
                       (victim.encode(),))
    elif damage == "nul_value":
        with _db(out) as db:
            db.execute("UPDATE files SET sha1 = char(0) WHERE relpath = ?", (victim.encode(),))
    elif damage == "truncate_output":
        data = (out / victim).read_bytes()
        (out / victim).write_bytes(data[: len(data) // 2])
    elif damage == "delete_output":
        (out / victim).unlink()
    elif damage == "garbage_output":
        (out / victim).write_bytes(os.urandom(300))
    elif damage == "truncate_run_json":
        (state / "run.json").write_bytes((state / "run.json").read_bytes()[:20])
    elif damage == "truncate_manifest":
        (state / "manifest.csv").write_bytes((state / "manifest.csv").read_bytes()[:-500])
    elif damage == "delete_manifest":
        (state / "manifest.csv").unlink()
    elif damage == "append_bytes_to_state":
        with open(state / "state.sqlite", "ab") as fh:
            fh.write(os.urandom(1000))
    elif damage == "edit_params":
        with _db(out) as db:
            db.execute("UPDATE files SET params = 'x' WHERE relpath = ?", (victim.encode(),))
    result = run_box(src, out)
    redone = {"edit_row": 1, "nul_value": 1, "truncate_output": 1, "delete_output": 1, "garbage_output": 1,
              "edit_params": 1}.get(damage, 0)
    assert result.skipped == 96 - redone
    assert output_digest(out) == output_digest(whole)


def test_state_that_is_not_a_database_is_refused_then_overwrite_starts_over(market, tmp_path):
    src, whole = market
    out = _damaged_copy(market, tmp_path)
    (out / "_occreid" / "state.sqlite").write_bytes(b"this is not SQLite" * 100)
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 2 and "damaged" in res.stderr and "--overwrite" in res.stderr
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress", "--overwrite")
    assert res.returncode == 0, res.stderr
    assert output_digest(out) == output_digest(whole)


def test_damaged_parameters_in_the_state_are_refused_then_overwrite_starts_over(market, tmp_path):
    src, whole = market
    out = _damaged_copy(market, tmp_path)
    with _db(out) as db:
        db.execute("UPDATE meta SET value = '{\"seed\": 0, trunc' WHERE key = 'fingerprint'")
    with pytest.raises(StateError, match="damaged parameters.*--overwrite"):
        run_box(src, out)
    run_box(src, out, overwrite=True)
    assert output_digest(out) == output_digest(whole)


def test_output_without_a_state_is_refused(market, tmp_path):
    src, whole = market
    out = _damaged_copy(market, tmp_path)
    for p in (out / "_occreid").glob("state.sqlite*"):
        p.unlink()
    with pytest.raises(StateError, match="without a run state.*--overwrite"):
        run_box(src, out)


def test_a_second_run_on_the_same_output_is_refused_while_one_holds_it(market, tmp_path):
    src, whole = market
    out = _damaged_copy(market, tmp_path)
    with open(out / "_occreid" / "state.sqlite.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 2 and "another occreid run" in res.stderr


def test_changed_and_deleted_inputs_are_redone_or_removed(market, tmp_path):
    _, whole = market
    src = tmp_path / "src"
    shutil.copytree(market[0], src)
    out = tmp_path / "out"
    shutil.copytree(whole, out, symlinks=True)
    names = sorted((src / "query").glob("*.jpg"))
    gone, changed = names[0], names[1]
    gone.unlink()
    changed.write_bytes((src / "bounding_box_test").glob("*.jpg").__next__().read_bytes())
    (src / "extra.txt").write_text("new other file")
    result = run_box(src, out, workers=1)
    assert result.removed == 1 and result.redone == 1
    fresh = tmp_path / "fresh"
    run_box(src, fresh)
    assert output_digest(out) == output_digest(fresh)
    assert not (out / "query" / gone.name).exists()


def test_overwrite_removes_what_the_previous_run_wrote(market, tmp_path):
    src0, _ = market
    src = tmp_path / "src"
    shutil.copytree(src0, src)
    (src / "info.txt").write_text("other file")
    out = tmp_path / "out"
    run_box(src, out, save_masks=True)
    victim = sorted((src / "query").glob("*.jpg"))[0]
    victim.unlink()
    (src / "info.txt").unlink()
    run_box(src, out, seed=3, overwrite=True)
    assert not (out / "query" / victim.name).exists() and not (out / "info.txt").exists()
    assert not (out / "_occreid" / "masks").exists()  # the earlier run's masks are gone too
    fresh = tmp_path / "fresh"
    run_box(src, fresh, seed=3)
    assert output_digest(out) == output_digest(fresh)


@pytest.mark.parametrize("env", [
    {"OCCREID_TEST_KILL_AT": "after-start"},        # state made, nothing done
    {"OCCREID_TEST_KILL_AFTER": "1"},               # before the first chunk was committed
    {"OCCREID_TEST_KILL_AT": "after-commit"},       # right after the first commit
    {"OCCREID_TEST_KILL_AFTER": "50"},              # in the middle
    {"OCCREID_TEST_KILL_AT": "before-export"},      # every image done, no manifest yet
])
def test_kill_9_at_any_phase_resumes_to_identical_bytes(market, tmp_path, env):
    src, whole = market
    out = tmp_path / "out"
    killed = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress", env=env)
    assert killed.returncode == -9
    assert not (out / "_occreid" / "manifest.csv").exists()
    resumed = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert output_digest(out) == output_digest(whole)


def test_a_worker_killed_by_the_system_ends_the_run_130_and_it_resumes_identically(market, tmp_path):
    src, whole = market
    out = tmp_path / "out"
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "2", "--no-progress",
              env={"OCCREID_TEST_KILL_AFTER": "20"})  # kills a worker process, not the main one
    assert res.returncode == 130 and "worker process died" in res.stderr
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "2", "--no-progress")
    assert res.returncode == 0 and "resumed: " in res.stdout, res.stderr
    assert output_digest(out) == output_digest(whole)


@pytest.mark.parametrize("workers,signal_env", [
    ("1", {"OCCREID_TEST_SIGINT_AFTER": "20"}),  # one worker: the 20th parse, in the main process
    ("2", {"OCCREID_TEST_SIGINT_AT": "after-commit"}),  # two: the main process, after its first commit
])
def test_ctrl_c_exits_130_and_resumes_to_identical_bytes(market, tmp_path, workers, signal_env):
    """Ctrl-C loses at most the chunks in flight: the rerun resumes (something was committed before
    the signal, by construction, not by timing) and ends byte-identical."""
    src, whole = market
    out = tmp_path / "out"
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", workers, "--no-progress", env=signal_env)
    assert res.returncode == 130 and "interrupted" in res.stderr
    assert res.stderr.count("\n") <= 2, res.stderr  # one line: no worker tracebacks either
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", workers, "--no-progress")
    assert res.returncode == 0 and "resumed: " in res.stdout
    assert output_digest(out) == output_digest(whole)


# -- full disk and unwritable output (a small tmpfs where one can be mounted) ------------------
@pytest.fixture
def tmpfs(tmp_path):
    with Tmpfs(tmp_path) as mount:
        yield mount


@pytest.mark.parametrize("workers", ["1", "2"])
def test_disk_full_mid_run_exits_3_and_resumes_to_identical_bytes(market, tmp_path, tmpfs, workers):
    src, whole = market
    disk = tmpfs("8m")
    out = disk / "out"
    filler = disk / "filler"
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", workers, "--no-progress",
              env={"OCCREID_TEST_FILL_AT": "40", "OCCREID_TEST_FILL_PATH": str(filler)})
    assert res.returncode == 3, res.stderr
    assert "resume" in res.stderr
    filler.unlink()
    res = cli("generate", src, "--out", out, "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert output_digest(out) == output_digest(whole)


def test_too_little_free_space_is_refused_before_the_first_image(market, tmp_path, tmpfs):
    src, _ = market
    disk = tmpfs("600k")
    res = cli("generate", src, "--out", disk / "out", "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 3 and "free" in res.stderr
    assert not any((disk / "out").glob("query/*"))


def test_unwritable_output_exits_3(market, tmp_path, tmpfs):
    src, _ = market
    ro = tmpfs("1m", readonly=True)
    res = cli("generate", src, "--out", ro / "out", "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 3 and "not writable" in res.stderr


def test_output_under_a_file_exits_3(market, tmp_path):
    src, _ = market
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, ["generate", str(src), "--out", str(tmp_path / "afile" / "out"), "--parser", BOX,
                                    "-j", "1", "--no-progress"])
    assert res.exit_code == 3 and "not writable" in res.output


# -- mistakes refused before the first image -------------------------------------------------
@pytest.mark.parametrize("extra,message", [
    (["--occlude", "nosuchsplit"], "not a split of this market dataset"),
    (["--seed", "-1"], "-1"),
    (["--seed", "4294967296"], "4294967296"),
    (["--parser", "nosuch"], "unknown parser"),
    (["--parser", "parsers:Nope"], "has no 'Nope'"),
    (["--parser", "no_such_module_x:Parser"], "cannot import"),
    (["--parser", "parsers:BrokenInitParser"], "model.bin not found"),
    (["--parser", ":"], "package.module:Class"),
    (["--max-pixels", "0"], "0"),
    (["--parser", "schp", "--checkpoint", "BADCKPT"], "cannot be built"),
])
def test_configuration_mistakes_exit_2_before_any_image(market, tmp_path, extra, message):
    src, _ = market
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    extra = [str(tmp_path / "bad.pth") if x == "BADCKPT" else x for x in extra]
    if "schp" in extra:
        pytest.importorskip("torch", reason="the SCHP parser needs torch")
    out = tmp_path / "out"
    args = ["generate", str(src), "--out", str(out), "-j", "2", "--no-progress"]
    if "--parser" not in extra:
        args += ["--parser", BOX]
    res = CliRunner().invoke(main, args + extra)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output
    assert not any(out.glob("query/*"))  # nothing was written


def test_a_parser_returning_nonsense_gives_error_rows_not_a_traceback(market, tmp_path):
    src, _ = market
    res = cli("generate", src, "--out", tmp_path / "out", "--parser", "parsers:WrongShapeParser", "-j", "1",
              "--no-progress")
    assert res.returncode == 1
    rows = _rows(tmp_path / "out")
    assert {r.status for r in rows.values()} == {"error"}
    assert all("part map" in r.reason for r in rows.values())


# -- stats and report refuse damaged manifests ----------------------------------------------
@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:-300], "does not match the run"),
    (lambda b: b.replace(b",occluded,", b",occluded\0,", 1), "does not match the run"),
    (lambda b: b.replace(b"0.", b"x.", 3), "does not match the run"),
])
def test_stats_and_report_refuse_a_damaged_manifest(market, tmp_path, damage, message):
    out = _damaged_copy(market, tmp_path)
    manifest = out / "_occreid" / "manifest.csv"
    manifest.write_bytes(damage(manifest.read_bytes()))
    for args in (["stats", str(out)], ["report", str(out), "--html", str(tmp_path / "r" / "index.html")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and message in " ".join(res.output.split()), res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("text,message", [
    ("relpath,split,status\nx.jpg,a,occluded\n", "lacks the column"),
    ("MANIFEST_HEADER\nROW_NONNUMERIC\n", "is not a number"),
    ("MANIFEST_HEADER\nROW_SHORT\n", "values expected"),
    ("MANIFEST_HEADER\nROW_NUL\n", "NUL"),
    ("MANIFEST_HEADER\nROW_OK", "cut short"),
    ("MANIFEST_HEADER\nROW_STATUS\n", "status"),
    ("MANIFEST_HEADER\nROW_FRACTIONAL_PID\n", "pid '3.5' is not a whole number"),
])
def test_read_manifest_refuses_what_it_cannot_trust(market, tmp_path, text, message):
    _, whole = market
    lines = (whole / "_occreid" / "manifest.csv").read_text().splitlines()
    header, row = lines[0], lines[1]
    cells = row.split(",")
    subs = {
        "MANIFEST_HEADER": header, "ROW_OK": row,
        "ROW_NONNUMERIC": ",".join(cells[:10] + ["abc"] + cells[11:]),
        "ROW_SHORT": ",".join(cells[:5]),
        "ROW_NUL": row.replace("occluded", "occ\0luded"),
        "ROW_STATUS": row.replace("occluded", "finished"),
        "ROW_FRACTIONAL_PID": ",".join(cells[:2] + ["3.5"] + cells[3:]),
    }
    for k, v in subs.items():
        text = text.replace(k, v)
    path = tmp_path / "manifest.csv"  # a manifest file on its own: no summary.json to check it against
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_typed_rows_are_the_written_text_read_back(market):
    _, whole = market
    text = list(csv.DictReader(io.StringIO((whole / "_occreid" / "manifest.csv").read_text(), newline="")))
    rows = read_manifest(whole)
    assert len(rows) == len(text) > 0 and [r.to_csv() for r in rows] == text  # the exact text, row for row
    occluded = [r for r in rows if r.status is Status.OCCLUDED]
    assert occluded and all(isinstance(r.pid, int) and isinstance(r.camera, int) for r in rows)
    assert all(0 < r.image_fraction <= 1 and isinstance(r.width, int) for r in occluded)
    assert all(r.clothes is None and r.part_covered is None for r in rows)  # empty optional columns: None


def test_odd_names_round_trip_through_the_manifest_to_stats(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    real = next(shared_dataset("market1501-mini").glob("query/*.jpg")).read_bytes()
    names = ["a\rb.jpg", "c\nd.jpg", 'e,"f".jpg', os.fsdecode(b"g\xffh.jpg")]
    for n in names:
        (src / n).write_bytes(real)
    run_box(src, tmp_path / "out", layout="folder")
    rows = read_manifest(tmp_path / "out")
    assert sorted(r.relpath for r in rows) == sorted(names)
    res = CliRunner().invoke(main, ["stats", str(tmp_path / "out")])
    assert res.exit_code == 0 and "occluded" in res.output
