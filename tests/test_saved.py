"""One reader of what a run saved: run.json's parameters and the part maps, with their checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from occreid.occlusion import OcclusionParams, preset_params
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
