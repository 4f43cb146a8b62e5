"""``augment.OccludeTransform``: the generator's occlusion at training time, from saved part maps."""

from __future__ import annotations

import numpy as np
from conftest import shared_dataset
from PIL import Image

from occreid.augment import OccludeTransform
from occreid.datasets import read_dataset
from occreid.occlusion import preset_params
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"


def test_transform_gives_the_generators_pixels_and_new_draws_per_epoch(tmp_path):
    src = shared_dataset("ltcc-mini")  # PNG: the generator's output is lossless
    out = tmp_path / "occ"
    generate(GenerateConfig(input=src, output=out, parser=BOX, seed=4, save_parts=True,
                            occlusion=preset_params("hard")))
    transform = OccludeTransform.from_run(out)
    records = read_dataset(src).records[::40]
    for r in records:
        mine = np.asarray(transform.read(src / r.relpath))
        assert (mine == np.asarray(Image.open(out / r.relpath).convert("RGB"))).all(), r.relpath
    transform.set_epoch(3)
    changed = sum(not (np.asarray(transform.read(src / r.relpath)) == np.asarray(Image.open(out / r.relpath))).all()
                  for r in records)
    assert changed >= len(records) // 2
    never = OccludeTransform(out, src, p=0.0)
    first = src / records[0].relpath
    assert (np.asarray(never.read(first)) == np.asarray(Image.open(first).convert("RGB"))).all()


def test_transform_reads_maps_with_their_checks_and_run_json_through_one_reader(tmp_path):
    import json

    import pytest

    from occreid.saved import part_map_path, run_file
    from occreid.writer import OutputTree

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    image = np.full((96, 32, 3), 150, np.uint8)
    for name in ("a.png", "b.png"):
        Image.fromarray(image).save(data / name)
    parts = np.zeros((96, 32), np.uint8)
    parts[20:40, 8:24] = 2  # the occluder: the 16 x 16 cells it touches, rows 16..47
    OutputTree(out).save_part_map("a.png", parts, parts.shape, "mediapipe", "", "sha", "pose")
    Image.fromarray(np.full((96, 32), 9, np.uint8)).save(part_map_path(out, "b.png"))  # not a map of 0..6
    transform = OccludeTransform(out, data)
    occluded = np.asarray(transform.read(data / "a.png"))
    assert (occluded[16:48] == 0).all() and (occluded[:16] == 150).all() and (occluded[48:] == 150).all()
    assert (np.asarray(transform.read(data / "b.png")) == image).all() and transform.missing == 1
    with pytest.raises(ValueError, match="run.json does not exist"):
        OccludeTransform.from_run(out)
    run_file(out).write_text(json.dumps({"fingerprint": {"seed": 3, "occlusion": {"fill": "mean"}}}))
    with pytest.raises(ValueError, match="records no input folder"):
        OccludeTransform.from_run(out)
    again = OccludeTransform.from_run(out, data)
    assert again.seed == 3 and again.occluder.params.fill == "mean"
