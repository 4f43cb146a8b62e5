"""Every failure a row (issue 18): an output that cannot be written becomes that image's ``error``
row and the run goes on (a name too long once the part map's ``.png`` is added, a path longer than
the OS allows, a folder where the image goes, a split folder that is a file), ``_occreid/tmp`` on
another file system falls back to a temporary file beside the target (still atomic, same bytes),
--out may hold rich markup or glob characters, ``merge`` refuses damaged shard files with one
sentence, and --parts-from with --save-parts saves the reused maps (issue 21)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import shared_dataset
from harness import BOX, cli, contents, crops_in_two_folders, mount_tmpfs, outputs, run_folder, unmount

from occreid.shards import ShardError, merge
from occreid.status import Status
from occreid.writer import OutputTree


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    src = tmp_path_factory.mktemp("small") / "in"
    return src, crops_in_two_folders(src)[0]


@pytest.mark.parametrize("length", [252, 253, 254, 255])
@pytest.mark.parametrize("side", ["save_parts", "save_masks"])
def test_a_name_too_long_for_its_part_map_or_mask_is_an_error_row_and_the_run_goes_on(small, tmp_path, length, side):
    src0, sample = small
    src = tmp_path / "in"
    shutil.copytree(src0, src)
    name = "x" * (length - 4) + ".jpg"
    shutil.copy(sample, src / "a" / name)
    out = tmp_path / "out"
    for _ in range(2):  # and the same at a rerun: the row, never a crash
        result = run_folder(src, out, **{side: True})
        rows = {r.relpath: r for r in result.rows}
        bad = rows[f"a/{name}"]
        assert bad.status == Status.ERROR and "File name too long" in bad.reason
        assert "part map" in bad.reason if side == "save_parts" else "mask" in bad.reason
        assert (out / "a" / name).read_bytes() == sample.read_bytes()  # the unchanged copy, as every error
        assert sum(r.status == Status.ERROR for r in result.rows) == 1


def test_an_output_path_longer_than_the_os_allows_is_an_error_row(small, tmp_path):
    src0, sample = small
    src = tmp_path / "in"
    shutil.copytree(src0, src)
    out = tmp_path / ("o" * 200) / ("o" * 100)  # a longer output root (SQLite takes up to 512 bytes)
    deep = src.joinpath(*["d" * 200] * 19)  # the input path fits in 4,096 bytes, the output path does not
    os.makedirs(deep)
    shutil.copy(sample, deep / "x.jpg")
    assert len(os.fsencode(out / deep.relative_to(src) / "x.jpg")) > 4096 > len(os.fsencode(deep / "x.jpg"))
    result = run_folder(src, out)
    bad = [r for r in result.rows if r.status == Status.ERROR]
    assert len(bad) == 1 and bad[0].relpath.endswith("/x.jpg") and "too long" in bad[0].reason
    assert len(result.rows) == 9


def test_a_folder_where_the_image_goes_and_a_split_folder_that_is_a_file_are_error_rows(small, tmp_path):
    src, _ = small
    out = tmp_path / "out"
    out.mkdir()
    first = sorted(p.name for p in (src / "a").iterdir())[0]
    (out / "a").mkdir()
    (out / "a" / first).mkdir()  # a folder named like the image
    (out / "b").write_text("a file where the split folder goes")
    result = run_folder(src, out, overwrite=True)
    rows = {r.relpath: r for r in result.rows}
    assert rows[f"a/{first}"].status == Status.ERROR and "Is a directory" in rows[f"a/{first}"].reason
    assert all(rows[k].status == Status.ERROR for k in rows if k.startswith("b/"))
    assert sum(r.status != Status.ERROR for r in result.rows) == 3  # the other images of a/


def _exdev_on_tmp(monkeypatch):
    real = os.replace

    def replace(a, b, *args, **kw):
        if "/_occreid/tmp/" in os.fspath(a):
            raise OSError(errno.EXDEV, "Invalid cross-device link", a, None, b)
        return real(a, b, *args, **kw)

    monkeypatch.setattr(os, "replace", replace)


def test_tmp_on_another_file_system_falls_back_beside_the_target_with_the_same_bytes(small, tmp_path, monkeypatch):
    src, _ = small
    run_folder(src, tmp_path / "plain", save_parts=True)
    _exdev_on_tmp(monkeypatch)
    result = run_folder(src, tmp_path / "out", save_parts=True)
    assert not result.errors
    assert outputs(tmp_path / "out") == outputs(tmp_path / "plain")
    parts = {k: v for k, v in contents(tmp_path / "out").items() if k.startswith("_occreid/parts")}
    assert parts == {k: v for k, v in contents(tmp_path / "plain").items() if k.startswith("_occreid/parts")}
    assert not [k for k in contents(tmp_path / "out") if k.endswith(".tmp")]  # no temporary file left


def test_tmp_on_a_real_other_file_system(small, tmp_path):
    src, _ = small
    run_folder(src, tmp_path / "plain")
    out = tmp_path / "out"
    (out / "_occreid" / "tmp").mkdir(parents=True)
    mount_tmpfs(out / "_occreid" / "tmp", "8m")
    try:
        assert not run_folder(src, out, overwrite=True).errors
        assert outputs(out) == outputs(tmp_path / "plain")
    finally:
        unmount(out / "_occreid" / "tmp")


def test_an_out_with_markup_and_glob_characters_runs_and_prints_no_traceback(small, tmp_path):
    src, _ = small
    out = tmp_path / "o[/]u[bold]t*?"
    res = cli("generate", src, "--out", out, "--layout", "folder", "--parser", BOX, "-j", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert str(out / "_occreid" / "manifest.csv") in res.stdout.replace("\n", "")
    res = cli("stats", out)
    assert res.returncode == 0, res.stderr
    from occreid.datasets.prcc import cal_gallery_order

    prcc = tmp_path / "p[r]c*c"
    shutil.copytree(shared_dataset("prcc-mini"), prcc)
    assert cal_gallery_order(prcc) == cal_gallery_order(shared_dataset("prcc-mini")) != []


def _sharded(src, out) -> Path:
    from occreid.shards import Shard

    for i in range(2):
        run_folder(src, out, shard=Shard(i, 2))
    return out / "_occreid" / "shards"


def test_merge_refuses_a_fingerprint_that_is_a_list_with_one_sentence(small, tmp_path):
    src, _ = small
    shards = _sharded(src, tmp_path / "out")
    for name in ("done.json", "shard.json"):
        path = shards / "1-of-2" / name
        info = json.loads(path.read_text())
        info["fingerprint"] = [1, 2]
        path.write_text(json.dumps(info))
    with pytest.raises(ShardError, match="damaged"):
        merge(tmp_path / "out")
    res = cli("merge", tmp_path / "out")
    assert res.returncode == 2 and "damaged" in res.stderr


@pytest.mark.parametrize("edit", [(",0.", ",x."), ("a/", "../")])
def test_merge_refuses_a_consistently_edited_shard_manifest(small, tmp_path, edit):
    src, _ = small
    shards = _sharded(src, tmp_path / "out")
    folder = next(p for p in sorted(shards.iterdir()) if (p / "manifest.csv").read_text().count(edit[0]))
    manifest = folder / "manifest.csv"
    data = manifest.read_text().replace(edit[0], edit[1], 1).encode()
    manifest.write_bytes(data)
    done = json.loads((folder / "done.json").read_text())
    done["manifest_sha1"] = hashlib.sha1(data).hexdigest()
    (folder / "done.json").write_text(json.dumps(done))
    res = cli("merge", tmp_path / "out")
    assert res.returncode == 2 and res.stderr.count("\n") <= 3, res.stderr


def test_parts_from_with_save_parts_saves_the_reused_maps(small, tmp_path):
    src, _ = small
    first = tmp_path / "first"
    run_folder(src, first, save_parts=True)
    second = tmp_path / "second"
    os.environ["OCCREID_TEST_NO_PARSE"] = "1"  # any parse fails: the maps are reused
    try:
        result = run_folder(src, second, parts_from=first, save_parts=True)
    finally:
        del os.environ["OCCREID_TEST_NO_PARSE"]
    assert not result.errors and {r.part_source for r in result.rows} == {"saved"}
    maps = lambda root: {k: v for k, v in contents(root).items() if k.startswith("_occreid/parts/")}  # noqa: E731
    assert maps(second) and maps(second) == maps(first)
    assert outputs(second) == outputs(first)
    again = run_folder(src, second, parts_from=first, save_parts=True)  # verified: nothing redone
    assert again.skipped == 8 and not again.redone


def test_output_tree_copy_file_keeps_bytes_and_mtime(tmp_path):
    src = tmp_path / "f.txt"
    src.write_bytes(b"abc")
    os.utime(src, ns=(1, 1_000_000_000))
    tree = OutputTree(tmp_path / "out")
    digest, st = tree.copy_file(src, tree.image_path("x/f.txt"))
    assert digest == hashlib.sha1(b"abc").hexdigest() and st.st_size == 3
    assert (tmp_path / "out" / "x" / "f.txt").stat().st_mtime_ns == 1_000_000_000
