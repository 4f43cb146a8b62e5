"""Every file occreid reads besides the dataset's images is guarded (issue 18, items 4 and 5): part
maps, objects, textures and checkpoints are regular files of bounded size, their pixel count checked
before decoding, never a read that blocks; what decides the bytes is in the fingerprint; objects and
textures are checked before the first image."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from harness import BOX, cli, not_a_regular_file, outputs
from PIL import Image

from occreid import config
from occreid.config import GenerateConfig, code_digest, source_digest
from occreid.occlusion import OcclusionParams
from occreid.runner import RunError, generate
from occreid.saved import part_map_path, read_labels, read_part_map


def big_png(path: Path, width: int, height: int, colour_type: int = 0) -> None:
    """A PNG of width x height zeros (grey, or palette with colour type 3), compressed row by row:
    tiny on disk, huge once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    z, row, parts = zlib.compressobj(1), b"\0" * (width + 1), []
    for _ in range(height):
        parts.append(z.compress(row))
    parts.append(z.flush())
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
    if colour_type == 3:
        body += chunk(b"PLTE", bytes(range(7)) * 3)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def crops_tree(root: Path, n: int = 6) -> list[str]:
    src = shared_dataset("ltcc-mini")
    root.mkdir(parents=True)
    names = []
    for p in sorted((src / "train").glob("*.png"))[:n]:
        shutil.copyfile(p, root / p.name)
        names.append(p.name)
    return names


# -- part maps --------------------------------------------------------------------------------
def test_a_huge_part_map_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "map.png"
    big_png(path, 9000, 6000, colour_type=3)  # 54 megapixels, 120 kB on disk
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    assert read_labels(path) is None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000, peak  # the file's bytes, not the 54 MB of labels
    small = tmp_path / "small.png"
    big_png(small, 40, 30, colour_type=3)
    assert read_labels(small).shape == (30, 40)
    assert read_part_map(small, shape=(30, 40)) is not None
    assert read_part_map(small, shape=(30, 41)) is None  # another size than its image: parsed again


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_part_map_that_is_not_a_regular_file_is_never_read(tmp_path, kind):
    path = not_a_regular_file(tmp_path / "map.png", kind)
    assert read_labels(path) is None and read_part_map(path) is None  # returns at once: nothing to block on


def _saved_run(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    names = crops_tree(data)
    generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, save_parts=True))
    return data, out, names


def test_a_fifo_or_dev_zero_among_the_saved_part_maps_does_not_hang_a_resume_or_the_report(tmp_path):
    data, out, names = _saved_run(tmp_path)
    before = (out / names[2]).read_bytes()
    part_map_path(out, names[0]).unlink()
    os.mkfifo(part_map_path(out, names[0]))
    part_map_path(out, names[1]).unlink()
    part_map_path(out, names[1]).symlink_to("/dev/zero")
    (out / names[3]).unlink()
    os.mkfifo(out / names[3])  # an output image replaced by a FIFO
    res = cli("generate", data, "--out", out, "--layout", "folder", "--parser", BOX, "--save-parts", "-j", "1",
              "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (out / names[3]).is_file() and (out / names[2]).read_bytes() == before
    (out / names[4]).unlink()
    os.mkfifo(out / names[4])
    res = cli("report", out, "--html", tmp_path / "report" / "index.html")
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_part_map_of_another_size_is_parsed_again_not_an_error_row(tmp_path):
    data, out, names = _saved_run(tmp_path)
    from occreid.writer import OutputTree

    for name in names[:3]:  # same parser, same source SHA-1, another size
        saved = read_part_map(part_map_path(out, name))
        digest = hashlib.sha1((data / name).read_bytes()).hexdigest()
        small = np.zeros((20, 10), np.uint8)
        small[5:15, 2:8] = 2
        OutputTree(out).save_part_map(name, small, small.shape, BOX, saved.reason, digest, saved.source)
    again = generate(GenerateConfig(input=data, output=tmp_path / "again", layout="folder", parser=BOX,
                                    parts_from=out))
    assert not [r for r in again.rows if r.status == "error"]
    assert {r.relpath for r in again.rows if r.part_source != "saved"} == set(names[:3])


# -- objects, textures, checkpoints: checked before the first image ------------------------------
def _objects(root: Path) -> Path:
    (root / "ground").mkdir(parents=True)
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[5:35, 5:25] = (90, 60, 30, 255)
    Image.fromarray(rgba).save(root / "ground" / "bin.png")
    return root


@pytest.mark.parametrize("damage, message", [
    ("mask-size", "differ in size"),
    ("mask-empty", "empty mask"),
    ("huge", "image too large"),
    ("unreadable", "cannot"),
])
def test_an_object_that_cannot_be_used_stops_the_run_before_the_first_image(tmp_path, damage, message):
    data = tmp_path / "data"
    crops_tree(data, 3)
    objects = _objects(tmp_path / "objects")
    car = objects / "ground" / "car.png"
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(car)
    mask = objects / "ground" / "car.mask.png"
    if damage == "mask-size":
        Image.fromarray(np.full((41, 30), 255, np.uint8)).save(mask)
    elif damage == "mask-empty":
        Image.fromarray(np.zeros((40, 30), np.uint8)).save(mask)
    elif damage == "huge":
        big_png(car, 20000, 20000)  # 400 megapixels: would die with MemoryError once decoded
        Image.fromarray(np.full((40, 30), 255, np.uint8)).save(mask)
    else:
        Image.fromarray(np.full((40, 30), 255, np.uint8)).save(mask)
        car.write_bytes(b"not an image")
    out = tmp_path / "out"
    res = cli("generate", data, "--out", out, "--layout", "folder", "--parser", BOX, "--shape", "object",
              "--objects", objects, "--no-progress")
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and "car" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) <= 3
    assert not out.exists()  # nothing written


@pytest.mark.parametrize("damage", ["unreadable", "huge", "fifo"])
def test_a_texture_that_cannot_be_used_stops_the_run_before_the_first_image(tmp_path, damage):
    data = tmp_path / "data"
    crops_tree(data, 3)
    textures = tmp_path / "textures"
    textures.mkdir()
    Image.fromarray(np.full((20, 20, 3), 70, np.uint8)).save(textures / "a.png")
    bad = textures / "b.png"
    if damage == "unreadable":
        bad.write_bytes(b"\x89PNG but not really")
    elif damage == "huge":
        big_png(bad, 20000, 20000)
    else:
        os.mkfifo(bad)  # never read (not a regular file): the run goes on with a.png
    out = tmp_path / "out"
    res = cli("generate", data, "--out", out, "--layout", "folder", "--parser", BOX, "--fill", "texture",
              "--texture-dir", textures, "--no-progress")
    if damage == "fifo":
        assert res.returncode == 0, res.stdout + res.stderr
        return
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--texture-dir" in res.stderr and "b.png" in res.stderr, res.stderr
    assert not out.exists()


@pytest.mark.parametrize("option, value, needs", [("--objects", "objects", "--shape object"),
                                                  ("--texture-dir", "textures", "--fill texture")])
def test_options_without_their_shape_or_fill_are_refused(tmp_path, option, value, needs):
    data = tmp_path / "data"
    crops_tree(data, 2)
    folder = _objects(tmp_path / value)
    res = cli("generate", data, "--out", tmp_path / "out", "--layout", "folder", "--parser", BOX, option, folder,
              "--no-progress")
    assert res.returncode == 2 and needs in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "folder-link", "dev-zero"])
def test_a_checkpoint_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    ckpt = not_a_regular_file(tmp_path / "schp.pth", kind)  # the folder link: to tmp_path
    cfg = GenerateConfig(input=tmp_path / "data", output=tmp_path / "out", parser="schp",
                         parser_options={"checkpoint": str(ckpt)})
    with pytest.raises(RunError, match="not a regular file"):
        generate(cfg)


# -- the fingerprint -----------------------------------------------------------------------------
DEFAULT_FINGERPRINT = {
    "format_version": 3, "code": code_digest(), "layout": "folder", "seed": 0, "parser": "mediapipe",
    "parser_options": {}, "preset": "default", "splits": "all", "fraction": 1.0, "jpeg_quality": "keep",
    "save_parts": False, "save_masks": False, "max_pixels": 50_000_000, "max_file_bytes": 64 * 1024 * 1024,
}


def test_the_default_fingerprint_is_unchanged(tmp_path):
    fp = GenerateConfig(input=tmp_path, output=tmp_path / "out").fingerprint("folder")
    occlusion = fp.pop("occlusion")
    assert fp == DEFAULT_FINGERPRINT
    assert occlusion == OcclusionParams().as_dict()
    assert "textures" not in fp and "checkpoint_sha256" not in fp


def test_the_code_digest_follows_every_source_file_and_nothing_else(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    (root / "sub" / "b.py").write_text("y = 2\n")
    first = source_digest(root)
    assert len(first) == 16 and int(first, 16) >= 0
    (root / "sub" / "__pycache__" / "b.cpython-311.py").write_text("cache")
    (root / "notes.txt").write_text("not code")
    assert source_digest(root) == first
    (root / "sub" / "b.py").write_text("y = 3\n")
    assert source_digest(root) != first
    (root / "sub" / "b.py").write_text("y = 2\n")
    (root / "sub" / "b.py").rename(root / "b2.py")  # the same bytes elsewhere: other code
    assert source_digest(root) != first
    assert code_digest() == source_digest(Path(config.__file__).resolve().parent)


def test_an_output_begun_by_other_code_is_refused_and_redone_with_overwrite(tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    crops_tree(data, 3)
    cfg = GenerateConfig(input=data, output=out, layout="folder", parser=BOX)
    generate(cfg)
    before, run_file = outputs(out), (out / "_occreid" / "run.json").read_bytes()
    monkeypatch.setattr(config, "code_digest", lambda: "0" * 16)  # the source changed since
    with pytest.raises(RunError, match="another version of occreid's code") as err:
        generate(cfg)
    assert "--overwrite" in str(err.value) and "\n" not in str(err.value)
    assert outputs(out) == before and (out / "_occreid" / "run.json").read_bytes() == run_file  # nothing touched
    generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, overwrite=True))
    assert outputs(out) == before  # this test's box parser draws the same whatever the digest
    assert '"code": "0000000000000000"' in (out / "_occreid" / "run.json").read_text()


def test_overwrite_keeps_saved_part_maps_of_the_same_code_only(tmp_path, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    crops_tree(data, 3)

    def run() -> dict:  # each saved map's modification time after a start-over, then set back to 1 s
        generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, save_parts=True, overwrite=True))
        times = {}
        for p in (out / "_occreid" / "parts").rglob("*.png"):
            times[p.relative_to(out)] = p.stat().st_mtime_ns
            os.utime(p, ns=(10**9, 10**9))
        return times

    assert len(run()) == 3
    assert set(run().values()) == {10**9}  # the same code: the maps are kept and reused, not written again
    monkeypatch.setattr(config, "code_digest", lambda: "0" * 16)
    again = run()
    assert len(again) == 3 and all(t > 10**9 for t in again.values())  # other code: parsed and written anew
    # the run state deleted: run.json alone says which code made the maps
    (out / "_occreid" / "state.sqlite").unlink()
    assert set(run().values()) == {10**9}
    (out / "_occreid" / "state.sqlite").unlink()
    monkeypatch.setattr(config, "code_digest", lambda: "1" * 16)
    assert all(t > 10**9 for t in run().values())


def test_texture_contents_and_checkpoint_bytes_are_in_the_fingerprint(tmp_path):
    textures = tmp_path / "textures"
    textures.mkdir()
    Image.fromarray(np.full((20, 20, 3), 70, np.uint8)).save(textures / "a.png")
    ckpt = tmp_path / "schp.pth"
    ckpt.write_bytes(b"weights one")
    params = OcclusionParams(fill="texture", texture_dir=str(textures))
    cfg = GenerateConfig(input=tmp_path, output=tmp_path / "out", occlusion=params, parser="schp",
                         parser_options={"checkpoint": str(ckpt)})
    first = cfg.fingerprint("folder")
    assert first["checkpoint_sha256"] == hashlib.sha256(b"weights one").hexdigest()
    Image.fromarray(np.full((20, 20, 3), 71, np.uint8)).save(textures / "a.png")
    ckpt.write_bytes(b"weights two")
    os.utime(ckpt, ns=(1, 2))
    second = cfg.fingerprint("folder")
    assert second["textures"] != first["textures"] and second["checkpoint_sha256"] != first["checkpoint_sha256"]


def test_swapping_the_texture_then_resuming_is_refused(tmp_path):
    data = tmp_path / "data"
    crops_tree(data, 3)
    textures = tmp_path / "textures"
    textures.mkdir()
    Image.fromarray(np.full((20, 20, 3), 70, np.uint8)).save(textures / "a.png")
    args = ["generate", data, "--out", tmp_path / "out", "--layout", "folder", "--parser", BOX, "--fill", "texture",
            "--texture-dir", textures, "--no-progress"]
    assert cli(*args).returncode == 0
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(textures / "a.png")
    res = cli(*args)
    assert res.returncode == 2 and "other parameters" in res.stderr, res.stderr
