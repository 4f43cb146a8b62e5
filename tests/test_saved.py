"""One reader of what a run saved: run.json's parameters and the part maps, with their checks."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, PngImagePlugin

from occreid.occlusion import OcclusionParams, preset_params
from occreid.partmaps import _plain_png
from occreid.parts import PALETTE
from occreid.saved import (
    RunFileError,
    part_map_path,
    read_labels,
    read_part_map,
    read_run,
    read_run_file,
    run_file,
)
from occreid.writer import OutputTree


def _write_run(root, params: OcclusionParams, seed=7, input_="/data/ltcc"):
    path = run_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = {"seed": seed, "occlusion": params.as_dict(), "parser": "mediapipe"}
    path.write_text(json.dumps({"fingerprint": fingerprint, "input": input_, "occreid": "0.1.0"}))


@pytest.mark.parametrize("params", [
    preset_params("default"), preset_params("hard"), preset_params("rectangle"), preset_params("person"),
    OcclusionParams(rect_sides=("top", "left"), rect_fraction=(0.3, 0.4), shape="rectangle"),
])
def test_read_run_rebuilds_the_parameters_seed_and_input(tmp_path, params):
    _write_run(tmp_path, params)
    run = read_run(tmp_path)
    assert run.params == params and run.seed == 7 and str(run.input) == "/data/ltcc"
    assert run.fingerprint["parser"] == "mediapipe"


@pytest.mark.parametrize("damage,words", [
    (None, "does not exist"), (b'{"fingerp', "cannot be read"), (b"[1, 2]", "holds no run fingerprint"),
    (b'{"fingerprint": {"seed": 1, "occlusion": {"fill": "pink"}}}', "fill must be one of"),
    (b'{"fingerprint": {"seed": 1}}', "cannot be read"),
])
def test_a_missing_or_damaged_run_json_is_one_sentence(tmp_path, damage, words):
    if damage is not None:
        run_file(tmp_path).parent.mkdir(parents=True)
        run_file(tmp_path).write_bytes(damage)
    with pytest.raises(RunFileError, match=words) as info:
        read_run(tmp_path)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    if damage is None:
        with pytest.raises(RunFileError):
            read_run_file(tmp_path)


def test_part_maps_round_trip_through_the_writer_with_their_checks(tmp_path):
    tree = OutputTree(tmp_path)
    parts = np.zeros((48, 24), np.uint8)
    parts[4:20, 6:18] = 1
    parts[20:44, 4:20] = 2
    tree.save_part_map("train/a b.png", parts, parts.shape, "mediapipe", "", "sha-a", "pose", 0.75)
    tree.save_part_map("train/empty.png", None, (48, 24), "mediapipe", "person too small", "sha-e")
    path = part_map_path(tmp_path, "train/a b.png")
    assert path == tree.part_path("train/a b.png")
    saved = read_part_map(path, "mediapipe", "sha-a")
    assert (saved.parts == parts).all() and saved.source == "pose" and saved.presence == 0.75
    assert read_part_map(path, "schp", "sha-a") is None and read_part_map(path, "mediapipe", "other") is None
    assert read_part_map(path) is not None  # no parser or source given: any maker
    empty = read_part_map(part_map_path(tmp_path, "train/empty.png"), "mediapipe", "sha-e")
    assert empty.parts is None and empty.reason == "person too small"
    assert (read_labels(path) == parts).all()
    assert not read_labels(part_map_path(tmp_path, "train/empty.png")).any()


def test_damaged_or_foreign_part_maps_read_as_none(tmp_path):
    from PIL import Image

    folder = part_map_path(tmp_path, "x.png").parent
    folder.mkdir(parents=True)
    (folder / "cut.png.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(folder / "label9.png.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "rgb.png.png")
    for name in ("cut.png", "label9.png", "rgb.png", "absent.png"):
        assert read_labels(part_map_path(tmp_path, name)) is None
        assert read_part_map(part_map_path(tmp_path, name)) is None


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(kind, start of the chunk, end of its CRC) of each PNG chunk."""
    out, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        out.append((data[pos + 4:pos + 8], pos, pos + 12 + length))
        pos += 12 + length
    return out


def test_real_part_maps_are_plain_8_bit_pngs_read_as_pillow_reads_them(tmp_path):
    files = sorted(shared_dataset("ltcc-mini").rglob("*.png"))[:40]
    tree = OutputTree(tmp_path)
    for i, f in enumerate(files):  # real silhouettes as part maps: the pixels' channels binned to 0..6
        parts = (np.asarray(Image.open(f).convert("L")) // 37).astype(np.uint8)
        tree.save_part_map(f"{i}.png", parts, parts.shape, "mediapipe", "", f"sha-{i}", "pose", 0.5)
        data = tree.part_path(f"{i}.png").read_bytes()
        with Image.open(tree.part_path(f"{i}.png")) as im:
            pillow, text = np.array(im), dict(im.info)
        header = data[16:29]
        assert header[8:10] == b"\x08\x03"  # 8 bits, palette
        idat = b"".join(data[s + 8:e - 4] for kind, s, e in _chunks(data) if kind == b"IDAT")
        rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(parts.shape[0], -1)
        assert not rows[:, 0].any()  # every row unfiltered
        plain = _plain_png(data)
        assert plain is not None and np.array_equal(plain[0], pillow) and np.array_equal(plain[0], parts)
        assert plain[1] == text and text["occreid-source-sha1"] == f"sha-{i}"
        assert read_part_map(tree.part_path(f"{i}.png"), "mediapipe", f"sha-{i}").presence == 0.5


def test_other_pngs_are_left_to_pillow_and_damage_is_refused(tmp_path):
    parts = np.zeros((40, 20), np.uint8)
    parts[5:35, 4:16] = 2
    parts[5:12, 6:14] = 1
    old = Image.fromarray(parts)  # a map of format version 2: 7 colours, so 4 bits per pixel, filtered rows
    old.putpalette([c for rgb in PALETTE for c in rgb])
    meta = PngImagePlugin.PngInfo()
    meta.add_text("occreid-parser", "mediapipe")
    path = part_map_path(tmp_path, "old.png")
    path.parent.mkdir(parents=True)
    old.save(path, pnginfo=meta)
    assert _plain_png(path.read_bytes()) is None  # not the plain form: Pillow reads it, the same labels
    assert np.array_equal(read_labels(path), parts) and read_part_map(path, "mediapipe") is not None

    tree = OutputTree(tmp_path)
    tree.save_part_map("new.png", parts, parts.shape, "mediapipe", "", "sha", "pose")
    good = tree.part_path("new.png").read_bytes()
    idat = next((s, e) for kind, s, e in _chunks(good) if kind == b"IDAT")
    flipped = bytearray(good)
    flipped[idat[0] + 10] ^= 0xFF  # a damaged byte: its chunk's CRC no longer matches
    for name, data in (("flipped", bytes(flipped)), ("cut", good[:idat[0] + 20]), ("no_end", good[:-12])):
        assert _plain_png(data) is None, name
        part_map_path(tmp_path, name).write_bytes(data)
    assert read_labels(part_map_path(tmp_path, "flipped")) is None  # Pillow refuses these too
    assert read_labels(part_map_path(tmp_path, "cut")) is None
    assert np.array_equal(read_labels(part_map_path(tmp_path, "no_end")), parts)  # Pillow's call: whole pixels
