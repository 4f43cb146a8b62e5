"""``occreid labels``: BPBReID part fields and KPR keypoint prompts, for a dataset and its occluded twin.

Two kinds of checks: the on-disk contract (paths, dtype, shape, value ranges, channel order),
asserted here independently of any other code; and the files loaded by BPBReID's and KPR's own
dataset code (``public_partbased``), skipped with the reason where that source is not available.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import public_partbased as public
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from parsers import BoxParser
from PIL import Image

from occreid.cli import main
from occreid.labels import COCO17, LabelsConfig, LabelsError, coco17, label_relpath, part_fields, write_labels
from occreid.labels.formats import ISP6_CHANNELS, MEDIAPIPE_FOR_COCO17, paste_transform
from occreid.labels.pifpaf import PIFPAF_FIELDS, pifpaf_fields
from occreid.occlusion import functional as OF
from occreid.occlusion import preset_params
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"
SUFFIX = ".jpg.confidence_fields.npy"
#: occreid label -> isp_6_parts channel (the documented mapping, written out independently).
CHANNEL_OF_LABEL = {0: 0, 1: 1, 2: 2, 3: 3, 4: 3, 5: 4, 6: 5}


class BoxFinder:
    """Landmarks on BoxParser's figure (a finder double: the real model is tested below): the nose in
    the head box, shoulders and hips at the torso's corners, knees and ankles down the legs, wrists
    beside the hips; MediaPipe's other landmarks at the image centre."""

    def find(self, rgb):
        if rgb.min() == rgb.max():
            return None
        h, w = rgb.shape[:2]
        lm = np.tile([w / 2, h / 2, 0.9], (33, 1))
        x0, x1 = w / 4 + 1, 3 * w / 4 - 1
        at = {0: (w / 2, h / 8), 2: (w / 2 - 2, h / 9), 5: (w / 2 + 2, h / 9), 7: (3 * w / 8, h / 8),
              8: (5 * w / 8 - 1, h / 8), 11: (x1, h / 6 + 1), 12: (x0, h / 6 + 1), 13: (x1, h / 3), 14: (x0, h / 3),
              15: (x1, h / 2 - 2), 16: (x0, h / 2 - 2), 23: (x1 - 2, h / 2 + 1), 24: (x0 + 2, h / 2 + 1),
              25: (x1 - 2, 3 * h / 4), 26: (x0 + 2, 3 * h / 4), 27: (x1 - 2, 15 * h / 16 - 2),
              28: (x0 + 2, 15 * h / 16 - 2)}
        for i, (x, y) in at.items():
            lm[i, :2] = (x, y)
        return lm


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _npy(root: Path, relpath: str, masks_dir: str = "isp_6_parts") -> np.ndarray:
    folder, name = relpath.rsplit("/", 1)
    return np.load(root / "masks" / masks_dir / folder.rsplit("/", 1)[-1] / (name.rsplit(".", 1)[0] + SUFFIX))


def _kp(root: Path, relpath: str, kp_dir: str = "occreid_mediapipe") -> list:
    folder, name = relpath.rsplit("/", 1)
    path = root / "external_annotation" / kp_dir / folder.rsplit("/", 1)[-1] / (name.rsplit(".", 1)[0]
                                                                                 + ".jpg_keypoints.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    """market1501-mini as BPBReID and KPR expect it (``<root>/Market-1501-v15.09.15``), labelled at full
    resolution with the box parser and the finder double."""
    root = tmp_path_factory.mktemp("bpb")
    data = _copy(shared_dataset("market1501-mini"), root / "Market-1501-v15.09.15")
    _both_formats(data)
    return data


def _both_formats(root: Path) -> None:
    """isp_6_parts with the keypoints, then the PifPaf-style fields alone."""
    write_labels(LabelsConfig(dataset=root, output=root, parser=BOX, stride=1, masks_format="isp_6_parts"),
                 finder=BoxFinder())
    write_labels(LabelsConfig(dataset=root, output=root, parser=BOX, stride=1, keypoints=False), finder=BoxFinder())


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    """The occluded twin of market1501-mini with pasted people (part maps and occluder masks saved),
    laid out as BPBReID expects, labelled in place."""
    root = tmp_path_factory.mktemp("twin")
    out = root / "Market-1501-v15.09.15"
    generate(GenerateConfig(input=shared_dataset("market1501-mini"), output=out, parser=BOX, workers=1,
                            occlusion=preset_params("person"), preset="person", save_parts=True, save_masks=True))
    _both_formats(out)
    return out


def _rows(out: Path) -> list[dict]:
    import csv

    with open(out / "_occreid" / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- the formats, pure -----------------------------------------------------------------------------
def test_part_fields_are_one_hot_in_channel_order_and_the_occluder_is_background():
    labels = np.repeat(np.arange(7, dtype=np.uint8), 4).reshape(7, 4)  # row r holds label r
    covered = np.zeros((7, 4), bool)
    covered[2, :2] = True  # two torso pixels under the occluder
    fields = part_fields(labels, (7, 4), covered)
    assert fields.dtype == np.float32 and fields.shape == (6, 7, 4)
    assert np.array_equal(fields.sum(axis=0), np.ones((7, 4)))
    expected = np.vectorize(CHANNEL_OF_LABEL.get)(labels)
    expected[covered] = 0
    assert np.array_equal(fields.argmax(axis=0), expected)
    assert list(ISP6_CHANNELS) == ["background", "head", "torso", "arms", "upper_legs", "lower_legs"]
    assert np.array_equal(part_fields(None, (7, 4)).argmax(axis=0), np.zeros((7, 4)))  # no person


def test_strided_fields_are_block_shares_that_still_sum_to_one():
    labels = np.zeros((10, 6), np.uint8)
    labels[:5, :3] = 1  # head fills the top-left 5 x 3
    fields = part_fields(labels, (10, 6), stride=4)
    assert fields.shape == (6, 3, 2)
    assert np.allclose(fields.sum(axis=0), 1.0)
    assert fields[1, 0, 0] == pytest.approx(12 / 16)  # block rows 0..3, cols 0..3: 4 x 3 head pixels
    assert fields[1, 2, 1] == 0.0 and fields[0, 2, 1] == 1.0  # a partial edge block averages what it has


def test_pifpaf_fields_split_each_part_between_its_limbs_and_cover_the_person():
    labels = np.zeros((40, 20), np.uint8)
    labels[2:8, 8:12] = 1
    labels[8:20, 5:15] = 2
    labels[20:30, 5:15] = 5
    labels[30:38, 5:15] = 6
    kps = np.zeros((17, 3))
    for name, (x, y) in {"left_hip": (13, 20), "right_hip": (7, 20), "left_knee": (13, 30), "right_knee": (7, 30),
                         "left_ankle": (13, 37), "right_ankle": (7, 37)}.items():
        kps[COCO17.index(name)] = (x, y, 0.9)
    covered = np.zeros((40, 20), bool)
    covered[32:, :] = True  # the feet under an occluder
    fields = pifpaf_fields(labels, kps, (40, 20), covered, radius=2)
    assert fields.shape == (36, 40, 20) and fields.dtype == np.float32 and set(np.unique(fields)) <= {0.0, 1.0}
    f = dict(zip(PIFPAF_FIELDS, fields.astype(bool)))
    person = (labels != 0) & ~covered
    assert np.array_equal(np.any(fields[17:], axis=0), person)  # the limbs cover the person exactly
    assert np.array_equal(f["left_knee_to_left_hip"], (labels == 5) & (np.arange(20) >= 10))  # the image's right
    assert np.array_equal(f["right_knee_to_right_hip"], (labels == 5) & (np.arange(20) < 10))
    assert np.array_equal(f["nose_to_left_eye"], labels == 1)
    assert not f["left_ankle"].any() and not f["left_ankle_to_left_knee"][32:].any()  # nothing under the occluder
    assert f["left_knee"][30, 13] and not f["left_knee"][~person].any()
    assert not pifpaf_fields(None, None, (40, 20)).any()


def test_coco17_takes_mediapipe_landmarks_by_meaning_and_hides_covered_or_outside_ones():
    lm = np.zeros((39, 3))
    lm[:, 0] = np.arange(39)  # x = landmark index: shows which landmark each keypoint took
    lm[:, 1], lm[:, 2] = 5.5, 0.8
    covered = np.zeros((10, 40), bool)
    covered[5, 11] = True  # MediaPipe's left shoulder (11) lies on pixel (row 5, col 11)
    kps = coco17(lm, (10, 40), covered)
    assert kps.shape == (17, 3)
    named = dict(zip(COCO17, kps[:, 0]))
    assert named["nose"] == 0 and named["left_eye"] == 2 and named["right_ear"] == 8 and named["right_ankle"] == 28
    assert list(kps[COCO17.index("left_shoulder")]) == [0, 0, 0]
    assert kps[COCO17.index("right_shoulder"), 2] == pytest.approx(0.8)
    assert list(coco17(lm, (10, 20))[COCO17.index("left_hip")]) == [0, 0, 0]  # x = 23 is off a 20-wide image
    assert len(MEDIAPIPE_FOR_COCO17) == 17


@pytest.mark.parametrize("top,left,height", [(30, 10, 90), (60, -4, 90), (-15, 20, 90), (50, 40, 90), (-20, 2, 170)])
def test_paste_transform_recovers_where_occreid_pasted_a_person(top, left, height):
    donor = np.zeros((128, 64), bool)  # a figure: head, body, one arm held out, legs apart
    donor[8:28, 26:40] = True
    donor[28:80, 18:48] = True
    donor[30:70, 8:18] = True
    donor[80:122, 18:30] = True
    donor[80:118, 36:48] = True
    pixels = np.zeros((128, 64, 3), np.uint8)
    rgb, shape = OF.resize_cutout(pixels, donor, height)  # occreid's own paste, as pasted.cut_out does
    _, placed = OF.stamp((128, 64), rgb, shape.astype(np.float32), top, left)
    move = paste_transform(OF.mask_box(donor), OF.mask_box(placed > 0), (128, 64), donor, placed > 0)
    assert move is not None
    sx, _, ox, oy = move
    y0, x0, y1, x1 = OF.mask_box(donor)
    # the donor box's top-left and bottom-right corners land where the stamp put them (to a pixel)
    assert ox + sx * x0 == pytest.approx(left, abs=1.0) and oy + sx * y0 == pytest.approx(top, abs=1.0)
    assert ox + sx * x1 == pytest.approx(left + shape.shape[1], abs=1.5)
    assert oy + sx * y1 == pytest.approx(top + shape.shape[0], abs=1.5)


def test_label_paths_follow_their_loaders_rule():
    assert label_relpath("bounding_box_train/0002_c1_01.jpg", SUFFIX) == "bounding_box_train/0002_c1_01" + SUFFIX
    assert label_relpath("rgb/test/A/001/cropped_rgb001.jpg", ".npy") == "001/cropped_rgb001.npy"
    assert label_relpath("rgb/test/A/001/cropped_rgb001.jpg", ".npy", "mirror") == "rgb/test/A/001/cropped_rgb001.npy"


# -- the on-disk contract, checked here ------------------------------------------------------------
def test_original_labels_on_disk(market):
    box = BoxParser()
    images = sorted(p for p in market.rglob("*.jpg") if p.parts[-3] == market.name)
    assert len(images) == 96
    for path in images:
        rel = path.relative_to(market).as_posix()
        rgb = np.asarray(Image.open(path).convert("RGB"))
        fields = _npy(market, rel)
        assert fields.dtype == np.float32 and fields.shape == (6,) + rgb.shape[:2]
        assert set(np.unique(fields)) <= {0.0, 1.0} and np.array_equal(fields.sum(axis=0), np.ones(rgb.shape[:2]))
        parts = box.parse(rgb).parts
        expected = np.vectorize(CHANNEL_OF_LABEL.get)(parts)
        assert np.array_equal(fields.argmax(axis=0), expected)
        pifpaf = _npy(market, rel, "pifpaf")
        assert pifpaf.dtype == np.float32 and pifpaf.shape == (36,) + rgb.shape[:2]
        assert set(np.unique(pifpaf)) <= {0.0, 1.0}
        assert np.array_equal(pifpaf[17:].any(axis=0), parts != 0)  # the 19 limb fields cover the person
        skeletons = _kp(market, rel)
        assert len(skeletons) == 1 and skeletons[0]["is_target"] is True
        kps = np.array(skeletons[0]["keypoints"])
        assert kps.shape == (17, 3) and (kps[:, 2] > 0.3).all()  # nothing covers the originals
        assert (kps[:, 0] < rgb.shape[1]).all() and (kps[:, 1] < rgb.shape[0]).all()
    record = json.loads((market / "_occreid" / "labels.json").read_text())
    assert record["counts"]["masks"] == 96 and record["bpbreid"]["masks_dirs_entry"] == [36, False, SUFFIX]
    assert not (market / "_occreid" / "tmp").exists()


def test_twin_labels_are_the_truth_after_occlusion(twin):
    rows = {r["relpath"]: r for r in _rows(twin)}
    occluded = [r for r in rows.values() if r["status"] == "occluded"]
    assert len(occluded) > 40
    placed = 0
    for row in occluded:
        rel = row["relpath"]
        covered = np.array(Image.open(twin / "_occreid" / "masks" / f"{rel}.png")).astype(bool)
        fields = _npy(twin, rel)
        assert (fields[1:, covered] == 0).all() and (fields[0, covered] == 1).all()  # no body part under it
        assert not _npy(twin, rel, "pifpaf")[:, covered].any()
        skeletons = _kp(twin, rel)
        target = np.array(skeletons[0]["keypoints"])
        seen = target[:, 2] > 0
        rows_, cols_ = target[seen, 1].astype(int), target[seen, 0].astype(int)
        assert not covered[rows_, cols_].any()  # a keypoint under the occluder is invisible
        assert (target[~seen] == 0).all()
        negatives = [np.array(s["keypoints"]) for s in skeletons[1:]]
        assert all(s["is_target"] is False for s in skeletons[1:])
        for neg in negatives:  # the pasted person's keypoints lie on it (within 2 pixels of its mask)
            vis = neg[:, 2] > 0
            assert vis.sum() >= 12  # the box figure's joints: most survive the move
            for x, y in neg[vis, :2].astype(int):
                assert covered[max(0, y - 2):y + 3, max(0, x - 2):x + 3].any()
            placed += 1
    assert placed >= 0.8 * len(occluded)
    untouched = [r["relpath"] for r in rows.values() if r["status"] != "occluded"]
    for rel in untouched:
        assert len(_kp(twin, rel)) <= 1


# -- loaded by their own code -----------------------------------------------------------------------
def _bpbreid():
    pytest.importorskip("torch", reason="BPBReID's dataset code needs torch")
    ns = public.load("bpbreid")
    if isinstance(ns, str):
        pytest.skip(ns)
    return ns


def _kpr():
    pytest.importorskip("torch", reason="KPR's dataset code needs torch")
    ns = public.load("kpr")
    if isinstance(ns, str):
        pytest.skip(ns)
    return ns


@pytest.mark.parametrize("which", ["market", "twin"])
def test_bpbreid_dataset_code_reads_the_part_fields(which, request):
    bpb = _bpbreid()
    import torch

    root = request.getfixturevalue(which)
    # Occluded-Duke declares isp_6_parts as (5 parts, with background, our suffix); Market-1501 gets the same entry
    # (docs/labels.md: their 4-value entry does not unpack in their Dataset's constructor, 3 values do).
    parts_num, has_background, suffix = bpb.occluded_duke.OccludedDuke.get_masks_config("isp_6_parts")[:3]
    assert (parts_num + 1, has_background, suffix) == (len(ISP6_CHANNELS), True, SUFFIX)
    bpb.market1501.Market1501.masks_dirs["isp_6_parts"] = (parts_num, has_background, suffix)
    ds = bpb.market1501.Market1501(root=str(root.parent), masks_dir="isp_6_parts", use_masks=True, load_masks=True,
                                   transform_tr=lambda **kw: kw, transform_te=lambda **kw: kw, verbose=False)
    mt = bpb.mask_transform
    samples = 0
    for mode in ("train", "query", "gallery"):
        for i in range(len(ds.data(mode))):
            sample = ds.getitem(i, mode)  # their read_image (OpenCV) and read_masks (np.load, to H x W x C)
            image, mask = sample["image"], sample["mask"]
            assert mask.shape == image.shape[:2] + (parts_num + 1,)
            # their ISP pipeline: drop the background, to C x H x W, background rebuilt from the parts, 1/4 size
            fg = mt.RemoveBackgroundMask().apply_to_mask(mask)
            chw = mt.PermuteMasksDim().apply_to_mask(torch.from_numpy(np.ascontiguousarray(fg)))
            full = mt.AddBackgroundMask("sum").apply_to_mask(chw)
            small = mt.ResizeMasks(image.shape[0], image.shape[1], 4).apply_to_mask(full)
            assert tuple(small.shape) == (parts_num + 1, image.shape[0] // 4, image.shape[1] // 4)
            assert torch.equal(full.argmax(dim=0), torch.from_numpy(mask.argmax(axis=2)))
            assert torch.allclose(full.sum(dim=0), torch.ones(image.shape[:2]))
            samples += 1
    assert samples == 96 - sum(1 for p in root.rglob("-1_*.jpg"))


@pytest.mark.parametrize("which", ["market", "twin"])
def test_bpbreid_configs_group_the_pifpaf_fields_into_parts(which, request):
    bpb = _bpbreid()
    import torch

    root = request.getfixturevalue(which)
    # masks_dir "pifpaf" as Market-1501 declares it, no entry added: their configs work as they are
    assert bpb.market1501.Market1501.get_masks_config("pifpaf") == (36, False, SUFFIX)
    assert list(PIFPAF_FIELDS) == bpb.pifpaf.PIFPAF_PARTS  # our channel order is theirs
    ds = bpb.market1501.Market1501(root=str(root.parent), masks_dir="pifpaf", use_masks=True, load_masks=True,
                                   transform_tr=lambda **kw: kw, transform_te=lambda **kw: kw, verbose=False)
    five_v, eight = bpb.pifpaf.CombinePifPafIntoFiveVerticalParts(), bpb.pifpaf.CombinePifPafIntoEightBodyMasks()
    box = BoxParser()
    for i in range(len(ds.data("query"))):
        sample = ds.getitem(i, "query")
        chw = torch.from_numpy(np.ascontiguousarray(sample["mask"])).permute(2, 0, 1)  # PermuteMasksDim
        labels = box.parse(sample["image"]).parts
        rel = Path(sample["img_path"]).relative_to(root).as_posix()
        if which == "twin":
            mask = root / "_occreid" / "masks" / f"{rel}.png"
            labels = np.where(np.array(Image.open(mask)).astype(bool), 0, labels)
        grouped = eight.apply_to_mask(chw).numpy().astype(bool)  # their 'eight' grouping (Occluded-Duke's config)
        assert np.array_equal(grouped.any(axis=0), labels != 0)
        head = grouped[eight.parts_names.index("head_mask")]  # the head, and the face keypoints' discs around it
        assert head[labels == 1].all() and not head[labels >= 3].any()
        legs = [eight.parts_names.index(n) for n in ("left_leg_mask", "right_leg_mask")]
        assert grouped[legs].any(axis=0)[labels >= 5].all() and not grouped[legs].any(axis=0)[labels == 1].any()
        vertical = five_v.apply_to_mask(chw).numpy().astype(bool)  # 'five_v' (Market's config)
        assert vertical[five_v.parts_names.index("head_mask")][labels == 1].all()
        assert vertical[five_v.parts_names.index("legs_mask")][labels >= 5].all()


def test_their_shipped_config_name_reads_the_fields_with_no_entry_added(market):
    bpb = _bpbreid()
    write_labels(LabelsConfig(dataset=market, output=market, parser=BOX, keypoints=False,
                              masks_dir="pifpaf_maskrcnn_filtering", masks_suffix=".npy"), finder=BoxFinder())
    ds = bpb.market1501.Market1501(root=str(market.parent), masks_dir="pifpaf_maskrcnn_filtering", use_masks=True,
                                   load_masks=True, transform_tr=lambda **kw: kw, transform_te=lambda **kw: kw,
                                   verbose=False)
    for mode in ("train", "query", "gallery"):
        for i in range(len(ds.data(mode))):
            sample = ds.getitem(i, mode)
            assert sample["mask"].shape == (32, 16, 36)  # stride 4 (the default) of 128 x 64, H x W x C


@pytest.mark.parametrize("which", ["market", "twin"])
def test_kpr_dataset_code_reads_the_keypoint_prompts(which, request):
    kpr = _kpr()
    root = request.getfixturevalue(which)
    kpr.market1501.Market1501.masks_dirs["isp_6_parts"] = (5, True, SUFFIX)
    cfg = public.kpr_config("occreid_mediapipe")
    ds = kpr.market1501.Market1501(root=str(root.parent), masks_dir="isp_6_parts", config=cfg, verbose=False)
    heatmaps = kpr.keypoints_to_masks.KeypointsToMasks(mode="keypoints_gaussian", vis_thresh=0.3)
    negatives = 0
    for mode in ("train", "query", "gallery"):
        for sample in ds.data(mode):
            image = np.asarray(Image.open(sample["img_path"]))
            h, w = image.shape[:2]
            skeletons = kpr.tools.read_keypoints(sample["kp_path"], (0, 0, w, h))  # their reader, as getitem calls it
            assert Path(sample["masks_path"]).is_file()
            ours = _kp(root, Path(sample["img_path"]).relative_to(root).as_posix())
            assert skeletons.shape == (max(1, len(ours)), 17, 3)
            if ours:
                assert np.allclose(skeletons[0], np.array(ours[0]["keypoints"]))  # the target comes first
            negatives += len(ours) - 1 if ours else 0
            maps = heatmaps(skeletons[0], (w, h), (w // 4, h // 4))  # their prompt heatmaps
            visible = skeletons[0][:, 2] > 0.3
            assert maps.shape == (17, h // 4, w // 4)
            assert (maps[visible].reshape(int(visible.sum()), -1).max(axis=1) > 0).all()
            assert (maps[~visible] == 0).all()
    if which == "twin":
        assert negatives > 0
    cfg.model.kpr.keypoints.filter_out_no_skeletons = True  # their filter: train images whose file has a skeleton
    filtered = kpr.market1501.Market1501(root=str(root.parent), masks_dir="isp_6_parts", config=cfg, verbose=False)
    with_skeleton = [p for p in (root / "bounding_box_train").glob("*.jpg")
                     if any(np.array(s["keypoints"]).max() > 0 for s in _kp(root, f"bounding_box_train/{p.name}"))]
    assert len(filtered.train) == len(with_skeleton) > 0


# -- the command -----------------------------------------------------------------------------------
def _run(*args):
    result = CliRunner().invoke(main, ["labels", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def test_a_twin_without_occluder_masks_is_refused_in_one_sentence(tmp_path):
    src = _copy(shared_dataset("market1501-mini") / "query", tmp_path / "in" / "query")
    generate(GenerateConfig(input=src.parent, output=tmp_path / "twin", parser=BOX, layout="folder", workers=1))
    result = _run(tmp_path / "twin", "--out", tmp_path / "labels", "--parser", BOX)
    assert result.exit_code == 2
    assert "--save-masks" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "labels").exists()


def test_shared_parent_folder_names_are_refused_and_mirror_paths_separate_them(tmp_path):
    prcc = shared_dataset("prcc-mini")  # rgb/test/A/004 and rgb/test/B/004: BPBReID's rule keeps only "004"
    isp = ("--parser", BOX, "--no-keypoints", "--masks-format", "isp_6_parts")  # no pose model needed
    result = _run(prcc, "--out", tmp_path / "o", *isp)
    assert result.exit_code == 2 and "--paths mirror" in result.output
    result = _run(prcc, "--out", tmp_path / "o", *isp, "--paths", "mirror")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "o" / "masks" / "isp_6_parts").rglob("*.npy"))) == 480
    assert not (prcc / "masks").exists()


@pytest.mark.parametrize("args,words", [
    (["--parser", "nosuch"], "nosuch"),
    (["--no-masks", "--no-keypoints"], "nothing to write"),
    (["--masks-suffix", ".png"], "must end in .npy"),
    (["--stride", "0"], "at least 1"),
])
def test_configuration_errors_exit_2_before_any_file(tmp_path, args, words):
    src = shared_dataset("market1501-mini")
    result = _run(src, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2 and words in result.output
    assert not (tmp_path / "o").exists()


def test_an_image_the_parser_fails_on_is_listed_and_exits_1_without_a_traceback(tmp_path):
    src = _copy(shared_dataset("market1501-mini") / "query", tmp_path / "in" / "query")
    args = ("--layout", "folder", "--masks-format", "isp_6_parts", "--no-keypoints")
    result = _run(src.parent, "--out", tmp_path / "o", "--parser", "parsers:WrongShapeParser", *args)
    assert result.exit_code == 1 and "failed: query/" in result.output and "part map" in result.output
    record = json.loads((tmp_path / "o" / "_occreid" / "labels.json").read_text())
    assert len(record["failed"]) == 32 and record["counts"]["masks"] == 0


def test_labels_config_error_names_the_missing_input(tmp_path):
    out = tmp_path / "twin"
    (out / "_occreid").mkdir(parents=True)
    (out / "_occreid" / "run.json").write_text(json.dumps({"fingerprint": {}, "input": str(tmp_path / "gone")}))
    with pytest.raises(LabelsError, match="gone"):
        write_labels(LabelsConfig(dataset=out, output=out))


def test_the_real_embedded_parser_and_pose_model_on_real_crops(tmp_path):
    pytest.importorskip("mediapipe", reason="the embedded parser needs mediapipe==0.10.21")
    src = shared_dataset("market1501-mini")
    data = tmp_path / "Market-1501-v15.09.15"
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        (data / folder).mkdir(parents=True)
        for f in sorted((src / folder).glob("*.jpg"))[:2]:
            shutil.copy(f, data / folder / f.name)
    result = _run(data, "--out", data, "--stride", "1")
    assert result.exit_code == 0, result.output
    on_person = total = 0
    for path in sorted(data.glob("*/*.jpg")):
        rel = path.relative_to(data).as_posix()
        fields = _npy(data, rel, "pifpaf")  # the default format
        person = fields[17:].any(axis=0)  # the limb fields cover the parsed person
        assert person.mean() > 0.15  # a real person found, not a stray blob
        skeletons = _kp(data, rel)
        assert len(skeletons) == 1
        kps = np.array(skeletons[0]["keypoints"])
        seen = kps[:, 2] > 0.5
        assert seen.sum() >= 8
        rows, cols = kps[seen, 1].astype(int), kps[seen, 0].astype(int)
        near = np.zeros_like(person)  # the person's pixels grown by 3 (a keypoint sits on a joint, at the edge)
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                near |= np.roll(np.roll(person, dy, 0), dx, 1)
        on_person += int(near[rows, cols].sum())
        total += int(seen.sum())
    assert on_person >= 0.85 * total  # landmarks and part maps describe the same person
