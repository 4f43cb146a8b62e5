"""The named presets (``occlusion/presets.py``) and the fills, through the Occluder and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from PIL import Image

from occreid.cli import main
from occreid.occlusion import Occluder, OcclusionParams, image_rng, preset_params
from occreid.occlusion import functional as F

BOX = "parsers:BoxParser"


def _figure(h=256, w=128):
    parts = np.zeros((h, w), np.uint8)
    parts[16:44, 48:80] = 1
    parts[44:128, 32:96] = 2
    parts[50:120, 20:32] = 3
    parts[128:192, 36:92] = 5
    parts[192:240, 36:92] = 6
    return parts


def test_hard_covers_more_of_the_person_than_default_and_hits_its_target():
    parts = _figure()
    default, hard = Occluder(preset_params("default")), Occluder(preset_params("hard"))
    d = [default.plan(parts, image_rng(0, f"{i}")).person_fraction for i in range(100)]
    h = [hard.plan(parts, image_rng(0, f"{i}")).person_fraction for i in range(100)]
    assert np.median(h) > np.median(d) + 0.15
    assert all(0.40 <= x <= 0.75 for x in h)
    assert all(len(hard.plan(parts, image_rng(0, f"{i}")).parts) >= 2 for i in range(20))


def test_rectangle_touches_a_border_and_can_miss_the_person():
    occluder = Occluder(preset_params("rectangle"))
    parts = _figure()
    parts[:, :40] = parts[:, 88:] = 0  # a slim person in the middle of the crop
    sides, misses = set(), 0
    for i in range(200):
        occ = occluder.plan(parts, image_rng(0, f"{i}"))
        m = occ.mask
        assert occ.status == "occluded" and occ.part_name.startswith("rect_")
        assert m[0].all() or m[-1].all() or m[:, 0].all() or m[:, -1].all()
        assert 0.25 - 0.01 <= occ.image_fraction <= 0.5 + 0.01
        sides.add(occ.side)
        misses += occ.person_fraction == 0
    assert sides == {"top", "bottom", "left", "right"} and misses > 0  # left/right strips miss this figure


@pytest.mark.parametrize("fill", ["mean", "noise", "blur", "texture"])
def test_fills_change_only_the_occluder(tmp_path, fill):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (256, 128, 3), dtype=np.uint8)
    textures = tmp_path / "objects"
    textures.mkdir()
    Image.fromarray(np.full((40, 30, 3), (200, 30, 40), np.uint8)).save(textures / "bin.png")
    occluder = Occluder(OcclusionParams(fill=fill, texture_dir=str(textures) if fill == "texture" else None))
    out, occ = occluder(image, _figure(), image_rng(1, "a.png"))
    assert (out[~occ.mask] == image[~occ.mask]).all() and occ.mask.any()
    inside = out[occ.mask]
    if fill == "mean":
        assert (inside == F.mean_colour(image)).all()
    elif fill == "texture":
        assert (inside == (200, 30, 40)).all()
    elif fill == "blur":
        assert inside.astype(float).std() < image[occ.mask].astype(float).std() / 3
    else:
        assert not (inside == image[occ.mask]).all() and inside.astype(float).std() > 50
    again, _ = occluder(image, _figure(), image_rng(1, "a.png"))
    assert (again == out).all()  # reproducible


def test_texture_fill_needs_a_folder_of_images(tmp_path):
    with pytest.raises(ValueError, match="texture_dir"):
        OcclusionParams(fill="texture")
    with pytest.raises(ValueError, match="holds no images"):
        OcclusionParams(fill="texture", texture_dir=str(tmp_path))


def test_cli_preset_with_override(tmp_path):
    src = shared_dataset("market1501-mini")
    res = CliRunner().invoke(main, ["generate", str(src), "--out", str(tmp_path / "o"), "--parser", BOX, "-j", "1",
                                    "--no-progress", "--preset", "paper", "--fill", "mean"])
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "o/_occreid/run.json").read_text())["fingerprint"]
    assert run["preset"] == "paper"
    assert run["occlusion"]["part_choice"] == "paper" and run["occlusion"]["fill"] == "mean"
    statuses = {r.split(",")[5] for r in (tmp_path / "o/_occreid/manifest.csv").read_text().splitlines()[1:]}
    assert statuses == {"occluded", "part_absent"}  # the box figure has no arms: paper draws miss them
