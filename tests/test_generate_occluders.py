"""The generator with the occluders that need more than one image: pasted shapes (person, scene,
object), one part order per video tracklet, and EXIF-rotated files parsed upright."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset, tree_digest
from PIL import Image

from occreid.augment import OccludeTransform
from occreid.datasets import read_dataset
from occreid.occlusion import preset_params
from occreid.orientation import to_stored, to_upright
from occreid.runner import GenerateConfig, RunError, generate

BOX = "parsers:BoxParser"


def _rows(out: Path) -> list[dict]:
    with open(out / "_occreid" / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _subset(src: Path, dst: Path, per_folder: int) -> Path:
    """The first ``per_folder`` files of every folder of ``src`` (same layout, fewer images)."""
    for folder in sorted({p.parent for p in src.rglob("*") if p.is_file()}):
        for f in sorted(p for p in folder.iterdir() if p.is_file())[:per_folder]:
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    return dst


@pytest.fixture(scope="module")
def ltcc_small(tmp_path_factory) -> Path:
    """LTCC's exact layout (PNG, lossless outputs), 40 real crops per split."""
    return _subset(shared_dataset("ltcc-mini"), tmp_path_factory.mktemp("ltcc") / "LTCC_ReID", 40)


@pytest.mark.parametrize("shape", ["person", "scene"])
def test_pasted_donors_are_other_identities_of_the_same_split_and_runs_are_byte_identical(tmp_path, ltcc_small,
                                                                                          shape):
    occlusion = preset_params(shape)
    one = generate(GenerateConfig(input=ltcc_small, output=tmp_path / "j1", parser=BOX, occlusion=occlusion,
                                  preset=shape, workers=1))
    generate(GenerateConfig(input=ltcc_small, output=tmp_path / "j2", parser=BOX, occlusion=occlusion, preset=shape,
                            workers=2, chunk_size=4))
    assert tree_digest(tmp_path / "j1") == tree_digest(tmp_path / "j2")
    assert _rows(tmp_path / "j1") == _rows(tmp_path / "j2")
    records = {r.relpath: r for r in read_dataset(ltcc_small).records}
    rows = _rows(tmp_path / "j1")
    occluded = [r for r in rows if r["status"] == "occluded"]
    # the box figure fills the middle half of every crop, so scene donors have only thin background strips
    assert len(occluded) >= {"person": 0.9, "scene": 0.5}[shape] * len(rows) and one.errors == 0
    assert all(r["status"] == "not_covered" and r["reason"] for r in rows if r["status"] != "occluded")
    for row in occluded:
        donor = records[row["donor"]]
        assert row["shape"] == shape
        assert donor.pid != int(row["pid"]) and donor.split == row["split"], row
        assert float(row["part_covered"]) >= occlusion.min_cover
    for row in rows:  # the parse phase saved every image's part map: the donors' cut-outs
        assert (tmp_path / "j1" / "_occreid" / "parts" / f"{row['relpath']}.png").is_file()
    # the training-time transform pastes the same donors at the same places (PNG: exact pixels)
    transform = OccludeTransform.from_run(tmp_path / "j1")
    for row in occluded[::10]:
        mine = np.asarray(transform.read(ltcc_small / row["relpath"]))
        assert (mine == np.asarray(Image.open(tmp_path / "j1" / row["relpath"]).convert("RGB"))).all()


def _draw_objects(root: Path) -> Path:
    """A tiny object bank: a grey bin standing on the ground and a red bag held in the hands."""
    (root / "ground").mkdir(parents=True)
    (root / "held").mkdir(parents=True)
    bin_ = np.zeros((60, 40, 4), np.uint8)
    bin_[5:, 3:37] = (90, 90, 90, 255)
    Image.fromarray(bin_, "RGBA").save(root / "ground" / "bin.png")
    bag = np.zeros((30, 30, 3), np.uint8)
    bag[:] = (200, 30, 30)
    Image.fromarray(bag).save(root / "held" / "bag.jpg")
    mask = np.zeros((30, 30), np.uint8)
    mask[4:28, 2:28] = 255
    Image.fromarray(mask).save(root / "held" / "bag.mask.png")
    return root


def test_object_occluders_record_their_file_and_other_objects_refuse_the_resume(tmp_path, ltcc_small):
    objects = _draw_objects(tmp_path / "objects")
    occlusion = preset_params("default", shape="object", objects_dir=str(objects))
    cfg = GenerateConfig(input=ltcc_small, output=tmp_path / "out", parser=BOX, occlusion=occlusion)
    generate(cfg)
    rows = _rows(tmp_path / "out")
    assert {r["donor"] for r in rows if r["status"] == "occluded"} <= {"ground/bin.png", "held/bag.jpg"}
    assert sum(r["status"] == "occluded" for r in rows) >= 0.8 * len(rows)
    generate(cfg)  # the same objects: a resume with nothing to do
    Image.fromarray(np.full((50, 20, 4), 255, np.uint8), "RGBA").save(objects / "ground" / "post.png")
    with pytest.raises(RunError, match="other parameters"):
        generate(cfg)


@pytest.fixture(scope="module")
def mars_small(tmp_path_factory) -> Path:
    """MARS's layout with three identities' folders (several tracklets each)."""
    src = shared_dataset("mars-mini")
    dst = tmp_path_factory.mktemp("mars") / "MARS"
    for split, n in (("bbox_train", 2), ("bbox_test", 1)):
        for folder in sorted((src / split).iterdir())[:n]:
            shutil.copytree(folder, dst / split / folder.name)
    return dst


def _parts_per_tracklet(rows: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rows:
        name = r["relpath"].rsplit("/", 1)[-1]
        out.setdefault(f"{r['split']}/{name[:11]}", set()).add(r["part"])  # PPPPcCtTTTT
    return out


def test_per_tracklet_keeps_one_body_part_through_each_sequence(tmp_path, mars_small):
    generate(GenerateConfig(input=mars_small, output=tmp_path / "image", parser=BOX))
    generate(GenerateConfig(input=mars_small, output=tmp_path / "tracklet", parser=BOX, per="tracklet", workers=2))
    per_image = _parts_per_tracklet(_rows(tmp_path / "image"))
    per_tracklet = _parts_per_tracklet(_rows(tmp_path / "tracklet"))
    assert len(per_tracklet) >= 4
    assert all(len(parts) == 1 for parts in per_tracklet.values())  # the box figure shows every drawn part
    assert any(len(parts) > 1 for parts in per_image.values())  # frame-by-frame draws jump between parts
    assert len({next(iter(p)) for p in per_tracklet.values()}) > 1  # tracklets draw their own part


def test_per_tracklet_is_refused_for_an_image_dataset(tmp_path, ltcc_small):
    with pytest.raises(RunError, match="video"):
        generate(GenerateConfig(input=ltcc_small, output=tmp_path / "out", parser=BOX, per="tracklet"))
    assert not (tmp_path / "out" / "_occreid" / "manifest.csv").exists()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_exif_rotated_file_is_parsed_as_shown_and_keeps_its_tag(tmp_path, orientation):
    """The same real person stored upright, and stored turned with an EXIF tag saying how to show
    it: the rotated file's part map is the upright one's, turned back to its stored pixels."""
    crop = shared_dataset("ltcc-mini") / "query"
    upright = np.asarray(Image.open(sorted(crop.iterdir())[0]).convert("RGB"))
    stored = to_stored(upright, orientation)
    assert (to_upright(stored, orientation) == upright).all()
    for name, pixels, tag in (("upright", upright, None), ("rotated", stored, orientation)):
        folder = tmp_path / name / "cam"
        folder.mkdir(parents=True)
        exif = Image.Exif()
        if tag is not None:
            exif[0x0112] = tag
        Image.fromarray(pixels).save(folder / "person.png", exif=exif)
        generate(GenerateConfig(input=tmp_path / name, output=tmp_path / f"{name}_occ", layout="folder",
                                save_parts=True, save_masks=True))
    rows = {name: _rows(tmp_path / f"{name}_occ")[0] for name in ("upright", "rotated")}
    assert rows["upright"]["status"] == rows["rotated"]["status"] == "occluded"
    assert rows["rotated"]["part"] == rows["upright"]["part"]
    maps = {name: np.asarray(Image.open(tmp_path / f"{name}_occ" / "_occreid" / "parts" / "cam" / "person.png.png"))
            for name in ("upright", "rotated")}
    assert (maps["rotated"] == to_stored(maps["upright"], orientation)).all()
    mask = np.asarray(Image.open(tmp_path / "rotated_occ" / "_occreid" / "masks" / "cam" / "person.png.png"))
    assert (mask.astype(bool) & (maps["rotated"] > 0)).any()  # the occluder lands on the person as stored
    with Image.open(tmp_path / "rotated_occ" / "cam" / "person.png") as im:
        assert im.getexif().get(0x0112) == orientation
