"""Acceptance on real crops with the real (embedded MediaPipe) parser.

The outputs re-parse by the public loaders' rules to exactly the input's records, keep every
image's size, and every ``occluded`` image has a non-empty occluder that overlaps the person.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import shared_dataset, tree_digest
from PIL import Image
from public_loaders import public_records

from occreid.datasets import read_dataset
from occreid.occlusion import preset_params
from occreid.runner import GenerateConfig, generate

pytest.importorskip("mediapipe", reason="the embedded parser needs mediapipe==0.10.21")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Each mini dataset generated once with the real parser, parts and masks saved."""
    out = {}
    base = tmp_path_factory.mktemp("real")
    for name, layout in (("prcc-mini", "prcc"), ("ltcc-mini", "ltcc"), ("market1501-mini", "market")):
        src = shared_dataset(name)
        dst = base / f"occ-{layout}"
        result = generate(GenerateConfig(input=src, output=dst, workers=2, save_parts=True, save_masks=True))
        out[layout] = (src, dst, result)
    return out


@pytest.mark.parametrize("layout", ["prcc", "ltcc", "market"])
def test_output_reparses_to_the_input_records_with_sizes_kept(generated, layout):
    src, dst, result = generated[layout]
    assert public_records(layout, dst) == public_records(layout, src)
    assert result.errors == 0
    for r in read_dataset(src).records:
        assert Image.open(src / r.relpath).size == Image.open(dst / r.relpath).size, r.relpath


@pytest.mark.parametrize("layout", ["prcc", "ltcc", "market"])
def test_every_occluded_image_has_an_occluder_on_the_person(generated, layout):
    src, dst, result = generated[layout]
    occluded = [r for r in result.rows if r.status == "occluded"]
    # measured: MediaPipe finds a plausible person in most real crops; keep a margin
    assert len(occluded) >= 0.75 * len(result.rows), result.summary
    for row in occluded:
        rel = row.relpath
        parts = np.array(Image.open(dst / "_occreid" / "parts" / f"{rel}.png"))
        mask = np.array(Image.open(dst / "_occreid" / "masks" / f"{rel}.png")).astype(bool)
        assert mask.any() and (mask & (parts > 0)).any(), rel
        assert row.person_fraction > 0
        out = np.asarray(Image.open(dst / rel).convert("RGB")).astype(int)
        assert np.median(out[mask]) <= 2, rel  # black under the mask, bar JPEG ringing
    for row in result.rows:
        if row.status == "no_person":  # untouched
            assert (src / row.relpath).read_bytes() == (dst / row.relpath).read_bytes()


def test_mars_subset_same_seed_and_worker_count_are_byte_identical(tmp_path):
    mars = shared_dataset("mars-mini")
    src = tmp_path / "mars"
    for tracklet_dir in sorted((mars / "bbox_train").iterdir())[:4]:
        files = sorted(tracklet_dir.glob("*.jpg"))[::12]
        (src / "bbox_train" / tracklet_dir.name).mkdir(parents=True)
        for f in files:
            shutil.copy(f, src / "bbox_train" / tracklet_dir.name / f.name)
    n = len(list(src.rglob("*.jpg")))
    assert n > 40
    runs = {}
    for name, workers in (("one", 1), ("two", 2), ("again", 2)):
        generate(GenerateConfig(input=src, output=tmp_path / name, workers=workers, seed=3))
        runs[name] = tree_digest(tmp_path / name)
    assert runs["one"] == runs["two"] == runs["again"] and len(runs["one"]) == n
    manifests = {k: (tmp_path / k / "_occreid" / "manifest.csv").read_bytes() for k in runs}
    assert manifests["one"] == manifests["two"] == manifests["again"]


def test_presets_on_real_crops_with_the_real_parts(generated, tmp_path):
    """Each preset on real PRCC crops, reusing the part maps the real parser saved."""
    src, parsed, base = generated["prcc"]
    runs = {}
    for preset in ("default", "hard", "rectangle"):
        runs[preset] = generate(GenerateConfig(input=src, output=tmp_path / preset, workers=1, parts_from=parsed,
                                               occlusion=preset_params(preset), preset=preset, save_masks=True))
        assert runs[preset].errors == 0
    torso = 0
    for row in runs["default"].rows:  # a chosen torso is covered, all of it
        if row.part == "torso":
            rel = row.relpath
            parts = np.array(Image.open(parsed / "_occreid" / "parts" / f"{rel}.png"))
            mask = np.array(Image.open(tmp_path / "default" / "_occreid" / "masks" / f"{rel}.png")).astype(bool)
            assert mask[parts == 2].all(), rel
            torso += 1
    assert torso >= 20

    def person(preset):
        return np.median([r.person_fraction for r in runs[preset].rows if r.status == "occluded"])

    assert person("hard") > person("default") + 0.15
    for row in runs["rectangle"].rows:
        if row.status == "occluded":
            mask_file = tmp_path / "rectangle" / "_occreid" / "masks" / f"{row.relpath}.png"
            m = np.array(Image.open(mask_file)).astype(bool)
            assert m[0].all() or m[-1].all() or m[:, 0].all() or m[:, -1].all(), row.relpath
    assert sum(r.person_fraction == 0 for r in runs["default"].rows if r.status == "occluded") == 0
