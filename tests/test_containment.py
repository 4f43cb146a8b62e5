"""Containment (issue 18): nothing outside --out is ever written, renamed or deleted, and no
symbolic link inside --out is followed. Each case of the issue is reproduced here (a victim tree
beside --out, the input tree itself), with hostile run-state rows and links where occreid writes,
and a property test that draws both. Real Market-1501 crops, the box test parser (fast)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from harness import contents, crops_in_two_folders, outputs, run_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from occreid.containment import UnsafePath, clean_relpath
from occreid.runner import RunError
from occreid.shards import Shard
from occreid.state import Entry, RunState
from occreid.writer import OutputTree


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Eight Market-1501 crops in two folders (a 'folder' layout) and their whole output."""
    src = tmp_path_factory.mktemp("small") / "in"
    crops_in_two_folders(src)
    run_folder(src, src.parent / "whole")
    return src, src.parent / "whole"


def _victims(base: Path) -> Path:
    """A victim tree beside the output: files a hostile row or link would reach."""
    v = base / "victim"
    (v / "dir" / "sub").mkdir(parents=True)
    (v / "victim.txt").write_text("keep me")
    (v / "dir" / "sub" / "v.jpg").write_bytes(b"keep me too")
    (base / "victim.txt").write_text("keep me")
    (base / "dir" / "sub").mkdir(parents=True)
    (base / "dir" / "sub" / "v.jpg").write_bytes(b"keep")
    return v


def _insert_rows(out: Path, relpaths: list[str], valid_checksum: bool = True) -> None:
    """Rows written into state.sqlite by something else, with checksums that verify (or not).
    ``out``: an output root, or a path beside a shard's state.sqlite."""
    state = out / "_occreid" / "state.sqlite" if (out / "_occreid").is_dir() else out.parent / "state.sqlite"
    db = sqlite3.connect(state)
    kind, size, mtime, sha1, params, outs, row = db.execute(
        "SELECT kind, size, mtime_ns, sha1, params, outputs, row FROM files LIMIT 1").fetchone()
    for rel in relpaths:
        entry = Entry(rel, kind, size, mtime, sha1, params, json.loads(outs), json.loads(row))
        checksum = entry.checksum() if valid_checksum else "0" * 40
        db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (os.fsencode(rel), kind, size, mtime, sha1, params, outs, row, checksum))
    db.commit()
    db.close()


def _hostile_relpaths(base: Path) -> list[str]:
    return ["../victim.txt", str(base / "victim.txt"), "../dir/sub/v.jpg", "a/../../victim.txt",
            "../victim/dir/sub/v.jpg", "_occreid/state.sqlite", "_occreid/run.json", "./a", "a//b.jpg"]


def test_clean_relpath():
    assert clean_relpath("a/b.jpg") and clean_relpath("name with spaces\n.jpg")
    for bad in ("", "/abs", "../x", "a/../x", "a//b", "./a", "a/.", "a\0b", "_occreid/x", "a/", None, b"a"):
        assert not clean_relpath(bad), bad
    assert clean_relpath("_occreid/parts/a.png", mirrored=False)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("valid_checksum", [True, False])
def test_hostile_state_rows_touch_nothing_outside_out_and_are_dropped(small, tmp_path, overwrite, valid_checksum):
    src, whole = small
    _victims(tmp_path)
    before, input_before = contents(tmp_path), contents(src)
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    hostile = _hostile_relpaths(tmp_path)
    _insert_rows(out, hostile, valid_checksum)
    run_folder(src, out, **({"seed": 3, "overwrite": True} if overwrite else {}))
    after = contents(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("out")} == \
           {k: v for k, v in before.items() if not k.startswith("out")}
    assert contents(src) == input_before
    assert (out / "_occreid" / "state.sqlite").is_file() and (out / "_occreid" / "run.json").is_file()
    state = RunState.open(out / "_occreid" / "state.sqlite", create=False)
    try:
        good, bad = state.entries()
    finally:
        state.close()
    assert not bad and not set(good) & set(hostile)  # dropped, and the images redone or kept
    fresh = tmp_path / "fresh"
    run_folder(src, fresh, **({"seed": 3} if overwrite else {}))
    assert outputs(out) == outputs(fresh)


def test_hostile_row_stored_as_text_is_dropped(small, tmp_path):
    src, whole = small
    _victims(tmp_path)
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    db = sqlite3.connect(out / "_occreid" / "state.sqlite")
    db.execute("INSERT INTO files VALUES ('../victim.txt', 'image', 1, 1, 'x', 'p', '{\"image\": \"x\"}', NULL, 'c')")
    db.commit()
    db.close()
    run_folder(src, out)
    run_folder(src, out)
    assert (tmp_path / "victim.txt").read_text() == "keep me"
    db = sqlite3.connect(out / "_occreid" / "state.sqlite")
    assert db.execute("SELECT count(*) FROM files WHERE relpath = '../victim.txt'").fetchone()[0] == 0


@pytest.mark.parametrize("overwrite", [False, True])
def test_split_folder_linked_into_the_input_is_refused_and_the_input_untouched(small, tmp_path, overwrite):
    src0, whole = small
    src = tmp_path / "in"
    shutil.copytree(src0, src)
    out = tmp_path / "out"
    if overwrite:  # a first run into a prepared output
        out.mkdir()
    else:
        shutil.copytree(whole, out)
        shutil.rmtree(out / "a")
    (out / "a").symlink_to(src / "a")
    before = contents(src)
    with pytest.raises(RunError, match=r"out/a is a symbolic link .*remove the link"):
        run_folder(src, out, overwrite=overwrite)
    assert contents(src) == before


@pytest.mark.parametrize("place", ["_occreid", "_occreid/tmp", "_occreid/shards", "_occreid/parts",
                                   "_occreid/masks", "_occreid/shards/0-of-2", "_occreid/shards/0-of-2/tmp",
                                   "_occreid/parts/a"])
def test_a_link_where_occreid_writes_is_refused_before_the_first_image(small, tmp_path, place):
    src, _ = small
    victim = _victims(tmp_path)
    (victim / "f.tmp").write_text("a file a clear_tmp would remove")
    out = tmp_path / "out"
    (out / place).parent.mkdir(parents=True, exist_ok=True)
    (out / place).symlink_to(victim, target_is_directory=True)
    before = contents(victim)
    shard = Shard(0, 2) if "shards" in place else None
    with pytest.raises(RunError, match="is a symbolic link"):
        run_folder(src, out, save_parts=True, save_masks=True, shard=shard, overwrite=True)
    assert contents(victim) == before


@pytest.mark.parametrize("place", ["_occreid/tmp", "_occreid/parts", "_occreid/masks", "_occreid/shards"])
def test_own_folders_that_are_files_are_refused_with_one_sentence(small, tmp_path, place):
    src, whole = small
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    shutil.rmtree(out / place, ignore_errors=True)
    (out / place).write_text("not a folder")
    with pytest.raises(RunError, match="is not a folder"):
        run_folder(src, out)


def test_writes_and_deletes_never_go_through_a_link_met_mid_run(tmp_path):
    victim = _victims(tmp_path)
    before = contents(victim)
    tree = OutputTree(tmp_path / "out")
    (tmp_path / "out" / "a").mkdir(parents=True)
    (tmp_path / "out" / "a" / "sub").symlink_to(victim / "dir")
    with pytest.raises(UnsafePath, match="symbolic link"):
        tree.write_bytes(tree.image_path("a/sub/sub/v.jpg"), b"x")
    with pytest.raises(UnsafePath, match="inside"):
        tree.write_bytes(tmp_path / "victim.txt", b"x")
    with pytest.raises(UnsafePath):
        tree.write_bytes(tree.root / "a" / ".." / ".." / "victim.txt", b"x")
    assert not tree.remove("image", "a/sub/sub/v.jpg")
    assert not tree.remove("image", "../victim.txt")
    assert contents(victim) == before and (tmp_path / "victim.txt").read_text() == "keep me"
    (tmp_path / "out" / "a" / "x.jpg").symlink_to(victim / "victim.txt")  # the final name a link: itself replaced
    tree.write_bytes(tree.image_path("a/x.jpg"), b"new")
    assert not (tmp_path / "out" / "a" / "x.jpg").is_symlink() and contents(victim) == before


def test_a_link_met_mid_run_at_an_image_folder_makes_that_image_an_error_row(small, tmp_path, monkeypatch):
    """The checks before the first image see no link; one made while the run goes (here: just
    before the worker writes the first image) is never written through: that image's error row."""
    src, _ = small
    victim = _victims(tmp_path)
    before = contents(victim)
    out = tmp_path / "out"
    made = []
    original = OutputTree.write_bytes

    def racing(self, path, data):
        if not made and os.fspath(path).endswith(".jpg"):
            shutil.rmtree(out / "a", ignore_errors=True)
            (out / "a").symlink_to(victim, target_is_directory=True)
            made.append(path)
        return original(self, path, data)

    monkeypatch.setattr(OutputTree, "write_bytes", racing)
    result = run_folder(src, out)
    assert contents(victim) == before
    errors = [r for r in result.rows if r.status == "error"]
    assert errors and all("symbolic link" in r.reason for r in errors)
    assert all(r.relpath.startswith("a/") for r in errors)


def test_clear_tmp_keeps_subfolders_and_other_names_and_never_follows_a_link(tmp_path):
    tree = OutputTree(tmp_path / "out")
    tree.tmp.mkdir(parents=True)
    (tree.tmp / "sub").mkdir()
    (tree.tmp / "sub" / "x.tmp").write_text("x")
    (tree.tmp / "left-1-2.tmp").write_text("x")
    (tree.tmp / "notes.txt").write_text("x")
    tree.clear_tmp()
    assert sorted(p.name for p in tree.tmp.iterdir()) == ["notes.txt", "sub"]
    victim = _victims(tmp_path)
    (victim / "v.tmp").write_text("x")
    shutil.rmtree(tree.tmp)
    tree.tmp.symlink_to(victim)
    tree.clear_tmp()
    with pytest.raises(UnsafePath):
        OutputTree(tree.root).clear_tmp()
    assert (victim / "v.tmp").exists()


_NAMES = st.sampled_from(["..", ".", "", "a", "b", "x.jpg", "victim.txt", "dir", "sub", "v.jpg", "_occreid"])
_RELPATHS = st.one_of(
    st.lists(_NAMES, min_size=1, max_size=4).map("/".join),
    st.lists(_NAMES, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
    st.sampled_from(["../victim.txt", "../dir/sub/v.jpg", "a/../../victim.txt"]),
)
_LINK_PLACES = st.lists(st.sampled_from(["a", "b", "_occreid", "_occreid/tmp", "_occreid/parts", "_occreid/masks",
                                         "_occreid/parts/a", "b/x.jpg", "_occreid/shards"]), max_size=3, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_RELPATHS, max_size=5), links=_LINK_PLACES, valid=st.booleans(), overwrite=st.booleans(),
       target_input=st.booleans())
def test_property_hostile_rows_and_links_leave_the_victim_and_the_input_untouched(
        small, tmp_path_factory, rows, links, valid, overwrite, target_input):
    src0, whole = small
    base = tmp_path_factory.mktemp("prop")
    src = base / "in"
    shutil.copytree(src0, src)
    victim = _victims(base)
    out = base / "out"
    shutil.copytree(whole, out)
    _insert_rows(out, rows, valid)
    for place in links:
        target = (src / "a") if target_input else victim
        if (out / place).is_symlink() or not (out / place).parent.is_dir() or (out / place).parent.is_symlink():
            continue
        if (out / place).is_dir():
            shutil.rmtree(out / place)
        elif (out / place).exists():
            (out / place).unlink()
        (out / place).symlink_to(target, target_is_directory=True)
    beside = {k: v for k, v in contents(base).items() if not k.startswith("out")}
    try:
        again = {"seed": 5, "overwrite": True, "save_parts": True, "save_masks": True} if overwrite else {}
        run_folder(src, out, **again)
    except RunError as exc:
        assert "symbolic link" in str(exc)
    except OSError as exc:  # never: a path occreid refuses is a RunError or an error row
        pytest.fail(f"{type(exc).__name__}: {exc} ({errno.errorcode.get(exc.errno)})")
    assert {k: v for k, v in contents(base).items() if not k.startswith("out")} == beside


@pytest.mark.parametrize("then", ["resume shard", "overwrite unsharded"])
def test_hostile_rows_in_a_shard_state_touch_nothing_outside_out(small, tmp_path, then):
    src, _ = small
    _victims(tmp_path)
    before = {k: v for k, v in contents(tmp_path).items() if not k.startswith("out")}
    out = tmp_path / "out"
    for i in range(2):
        run_folder(src, out, shard=Shard(i, 2))
    _insert_rows(out / "_occreid" / "shards" / "0-of-2" / "x", _hostile_relpaths(tmp_path))  # (state beside x)
    if then == "resume shard":
        run_folder(src, out, shard=Shard(0, 2))
    else:
        run_folder(src, out, overwrite=True)  # _no_shards: every shard's recorded outputs removed first
    assert {k: v for k, v in contents(tmp_path).items() if not k.startswith("out")} == before
    fresh = tmp_path / "fresh"
    run_folder(src, fresh)
    assert outputs(out) == outputs(fresh)
