"""The part-quality benchmark's readers of third-party annotations (``benchmarks/_gt_people.py``,
``benchmarks/_gt_parts.py``), on small hand-written annotation files beside images drawn at test time.

What is checked: keypoint names from every format mean the right joint or extra kind (``left_hip``
is a hip, not the pelvis); a COCO-style person becomes one crop with its keypoints where the box
puts them; the same person listed in a second file adds only its extra points; files without
visibility flags count labelled points and say so; MPII-TRB's box-less people are boxed by their
points; Halpe's unnamed 136 points are read by position; parsing labels map to the documented
regions (LIP's label 10 ignored, CIHP's torso skin kept) and touching CIHP people are skipped;
DensePose points keep their part, and a pickle naming anything but arrays is refused unread; the
masks of the image's other people come with each crop, and the share of a map on them counts only
pixels off the subject's own mask.
"""

from __future__ import annotations

import importlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
gt = importlib.import_module("_gt_people")
gparts = importlib.import_module("_gt_parts")
bench_parts = importlib.import_module("bench_parts")

COCO17 = gt.HALPE136[:17]


def _image(path: Path, h: int = 400, w: int = 300) -> None:
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _person(box, flag=2, **extra) -> dict:
    """COCO keypoints spread down the box: all 17 at ``flag``."""
    x, y, w, h = box
    kp = []
    for i in range(17):
        kp += [x + w * (0.3 + 0.4 * (i % 2)), y + h * (0.05 + 0.9 * i / 16), flag]
    return {"id": len(extra) + int(x), "image_id": 1, "category_id": 1, "bbox": list(box), "keypoints": kp,
            "iscrowd": 0, **extra}


def _coco(path: Path, anns: list[dict], names=COCO17) -> None:
    data = {"images": [{"id": 1, "file_name": "im.jpg", "height": 400, "width": 300}],
            "categories": [{"id": 1, "name": "person", "keypoints": list(names)}], "annotations": anns}
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("name", "joint", "extra"), [
    ("left_hip", "hip", None), ("Right-ankle", "ankle", None), ("Left Wrist", "wrist", None),
    ("hip", None, "pelvis"), ("root (pelvis)", None, "pelvis"), ("head_top", None, "head top"),
    ("head", None, "head top"), ("neck_base", None, "neck"), ("thorax", None, "neck"), ("belly", None, "spine"),
    ("left_big_toe", None, "foot"), ("right_heel", None, "foot"), ("left_foot", None, "foot"),
    ("left_hand", None, "hand"), ("face", None, None), ("medial_right_bow", None, None), ("left_neck", None, None),
])
def test_names(name, joint, extra):
    assert gt.joint_of(name) == joint
    assert gt.extra_of(name) == extra


def test_coco_person_becomes_one_crop_and_a_second_file_adds_only_extra_points(tmp_path):
    _image(tmp_path / "im.jpg")
    box = (100, 50, 80, 300)
    _coco(tmp_path / "a.json", [_person(box), _person((10, 10, 20, 40))])  # the second is under 64 px: skipped
    foot = [110, 340, 2, 120, 345, 2, 115, 350, 1, 160, 340, 2, 170, 345, 0, 165, 350, 2]
    again = _person(box, foot_kpts=foot, foot_valid=True, lefthand_kpts=[0, 0, 0] * 21, lefthand_valid=False)
    _coco(tmp_path / "b.json", [again])
    people = gt.annotated_people([tmp_path])
    assert len(people) == 1
    p = people[0]
    assert p["rgb"].shape == (gt.CROP_H, gt.CROP_W, 3) and p["vis_known"] and p["mask"] is None
    assert len(p["keypoints"]) == 17
    # the box's centre is the crop's centre (the box is grown evenly round it)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    crop = gt.Crop(np.zeros((400, 300, 3), np.uint8), box)
    x, y = crop.point(cx, cy)
    assert abs(x - gt.CROP_W / 2) <= 1 and abs(y - gt.CROP_H / 2) <= 1
    # only the feet flagged visible (2) come, tagged with the file's folder
    assert [k for k, *_ in p["extra"]] == ["foot"] * 4
    assert {s for *_, s in p["extra"]} == {tmp_path.name}


def test_files_without_visibility_flags_count_labelled_points(tmp_path):
    _image(tmp_path / "im.jpg")
    person = _person((100, 50, 80, 300), flag=1)
    person["keypoints"][2] = 0  # the nose not labelled
    _coco(tmp_path / "a.json", [person])
    (p,) = gt.annotated_people([tmp_path])
    assert not p["vis_known"] and len(p["keypoints"]) == 16


def test_a_file_with_flags_keeps_only_visible_points(tmp_path):
    _image(tmp_path / "im.jpg")
    person = _person((100, 50, 80, 300))
    for i in range(5):
        person["keypoints"][3 * i + 2] = 1  # five points labelled but hidden
    _coco(tmp_path / "a.json", [person])
    (p,) = gt.annotated_people([tmp_path])
    assert p["vis_known"] and len(p["keypoints"]) == 12


def test_boxless_people_are_boxed_by_their_points(tmp_path):
    _image(tmp_path / "im.jpg")
    person = _person((100, 50, 80, 300))
    del person["bbox"]
    _coco(tmp_path / "a.json", [person])
    (p,) = gt.annotated_people([tmp_path])
    ys = [y for _, _, y in p["keypoints"]]
    assert len(p["keypoints"]) == 17 and min(ys) > 0 and max(ys) < gt.CROP_H - 1


def test_halpe_points_are_read_by_position(tmp_path):
    _image(tmp_path / "im.jpg")
    person = _person((100, 50, 80, 300))
    body = person["keypoints"]
    rest = [120, 45, 2, 125, 70, 2, 0, 0, 0] + [130, 340, 2] * 6 + [0, 0, 0] * 68 + [105, 200, 2] * 21 + [0, 0, 0] * 21
    person["keypoints"] = body + rest
    _coco(tmp_path / "a.json", [person], names=[])
    (p,) = gt.annotated_people([tmp_path])
    kinds = [k for k, *_ in p["extra"]]
    assert len(p["keypoints"]) == 17
    assert kinds.count("head top") == 1 and kinds.count("neck") == 1 and "pelvis" not in kinds
    assert kinds.count("foot") == 6 and kinds.count("hand") == 21


def _parsing(root: Path, img_dir: str, lab_dir: str, labels: np.ndarray) -> None:
    _image(root / img_dir / "p.jpg", *labels.shape)
    (root / lab_dir).mkdir(parents=True)
    cv2.imwrite(str(root / lab_dir / "p.png"), labels)


def _standing(labels: np.ndarray, x0: int, x1: int) -> None:
    """A standing person in LIP labels: hair, face, upper clothes, a dress band, jumpsuit-or-torso-skin, pants."""
    labels[20:40, x0:x1] = 2
    labels[40:70, x0:x1] = 13
    labels[70:150, x0:x1] = 5
    labels[150:170, x0:x1] = 6
    labels[170:190, x0:x1] = 10
    labels[190:300, x0:x1] = 9


@pytest.mark.parametrize("dirs", [("val_images", "val_segmentations"), ("images", "annotations")])
def test_lip_labels_map_to_regions(tmp_path, dirs):
    labels = np.zeros((320, 160), np.uint8)
    _standing(labels, 50, 110)
    _parsing(tmp_path, *dirs, labels)
    (p,) = gparts.parsed_people([tmp_path])
    r = p["regions"]
    # the label map's rows 20-300 fill the crop's height once grown by 10 % each side
    col = r[:, gt.CROP_W // 2]
    values = [int(v) for i, v in enumerate(col) if i == 0 or v != col[i - 1]]
    assert values == [0, 1, 2, 255, 3, 0]  # head, upper body, dress + jumpsuit ignored, legs
    assert p["mask"].sum() == (r > 0).sum()


def test_cihp_keeps_torso_skin_and_skips_touching_people(tmp_path):
    labels = np.zeros((320, 400), np.uint8)
    _standing(labels, 20, 80)  # alone
    _standing(labels, 200, 260)  # these two touch: one piece, two faces
    _standing(labels, 260, 320)
    labels[40:70, 258:262] = 0  # two faces, not one wide face
    _parsing(tmp_path, "images", "labels", labels)
    (p,) = gparts.parsed_people([tmp_path])
    assert 255 in p["regions"] and (p["regions"] == 2).sum() > 0
    col = p["regions"][:, gt.CROP_W // 2]
    assert [int(v) for i, v in enumerate(col) if i == 0 or v != col[i - 1]] == [0, 1, 2, 255, 2, 3, 0]


def test_densepose_points_keep_their_part(tmp_path):
    crop = np.full((100, 100, 3), 128, np.uint8)
    ann = {"ICrop": crop, "I": np.array([23.0, 1.0, 20.0, 6.0]), "x": np.array([50.0, 50.0, 10.0, 60.0]),
           "y": np.array([10.0, 40.0, 50.0, 95.0]), "U": np.zeros(4), "V": np.zeros(4)}
    (tmp_path / "ann.pkl").write_bytes(pickle.dumps(ann))
    (p,) = gparts.densepose_people([tmp_path])
    assert [label for label, _, _ in p["points"]] == [1, 2, 4, 6]
    # the square crop is padded to 1:2 with black bars above and below, then resized to 128 x 256
    _, x, y = p["points"][0]
    assert x == pytest.approx(50 * gt.CROP_W / 100) and y == pytest.approx((10 + 50) * gt.CROP_H / 200)
    assert p["rgb"][0].max() == 0 and p["rgb"][gt.CROP_H // 2].min() == 128


class _Shell:
    def __reduce__(self):
        return (Path.touch, (Path("should-not-exist"),))


def test_a_pickle_naming_more_than_arrays_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps({"ICrop": _Shell(), "I": [], "x": [], "y": []}))
    assert gparts.densepose_people([tmp_path]) == []
    assert not (tmp_path / "should-not-exist").exists()


def test_fitted_body_masks_come_from_the_iuv_image(tmp_path):
    _image(tmp_path / "S1" / "im.jpg")
    iuv = np.zeros((400, 300, 3), np.uint8)
    iuv[60:340, 110:170, 0] = 1
    (tmp_path / "BF_IUV_gt").mkdir()
    cv2.imwrite(str(tmp_path / "BF_IUV_gt" / "im_150_200.png"), iuv)
    data = {"images": [{"id": 1, "file_name": "im.jpg", "height": 400, "width": 300}],
            "categories": [{"id": 1, "name": "person", "keypoints": COCO17}],
            "annotations": [_person((100, 50, 80, 300), flag=1)]}
    (tmp_path / "S1" / "h36m.json").write_text(json.dumps(data))
    (p,) = gt.annotated_people([tmp_path])
    assert p["mask_kind"] == "fitted body model" and p["mask"].any() and not p["mask"].all()


def _struct(fields: list[str], rows: list[tuple]) -> np.ndarray:
    arr = np.empty((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        arr[0, i] = row
    return arr


def test_pascal_part_people_map_to_occreid_labels(tmp_path):
    from scipy.io import savemat

    h, w = 300, 200
    _image(tmp_path / "examples" / "im.jpg", h, w)
    person = np.zeros((h, w), np.uint8)
    person[20:290, 60:140] = 1
    bands = {"hair": (20, 40), "head": (40, 70), "neck": (70, 80), "torso": (80, 160), "luleg": (160, 220),
             "lfoot": (220, 290)}
    parts = []
    for name, (y0, y1) in bands.items():
        m = np.zeros((h, w), np.uint8)
        m[y0:y1, 60:140] = 1
        parts.append((name, m))
    parts[3][1][150:160] = 0  # rows 150-159: the person, in no part
    small = np.zeros((h, w), np.uint8)
    small[10:40, 150:170] = 1  # 30 px high: skipped
    objects = _struct(["class", "class_ind", "mask", "parts"], [
        ("person", 15, person, _struct(["part_name", "mask"], parts)),
        ("person", 15, small, _struct(["part_name", "mask"], [("head", small)])),
        ("dog", 12, person, _struct(["part_name", "mask"], [("head", person)])),
    ])
    savemat(str(tmp_path / "examples" / "im.mat"), {"anno": {"imname": "im", "objects": objects}})
    (p,) = gparts.pascal_part_people([tmp_path])
    col = p["parts"][:, gt.CROP_W // 2]
    assert [int(v) for i, v in enumerate(col) if i == 0 or v != col[i - 1]] == [0, 1, 255, 2, 255, 5, 6, 0]
    assert p["mask"].sum() == (p["parts"] > 0).sum()


def _rect(x0, y0, x1, y1) -> list[list[float]]:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def test_other_peoples_masks_come_with_the_crop(tmp_path):
    _image(tmp_path / "im.jpg")
    subject = _person((100, 50, 80, 300), segmentation=_rect(100, 50, 180, 350))
    # a passer-by overlapping the subject's right side, and a crowd region with a mask but no keypoints
    passer = _person((160, 60, 60, 280), segmentation=_rect(160, 60, 220, 340))
    crowd = {"id": 99, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "iscrowd": 1,
             "segmentation": _rect(0, 0, 40, 40)}
    _coco(tmp_path / "a.json", [subject, passer, crowd])
    people = gt.annotated_people([tmp_path])
    assert len(people) == 2  # the crowd region is nobody's crop
    p = people[0]  # the subject's crop (the file's order)
    crop = gt.Crop(np.zeros((400, 300, 3), np.uint8), (100, 50, 80, 300))
    inside = crop.point(200, 200)  # the passer-by alone
    assert p["others"] is not None and p["others"][int(inside[1]), int(inside[0])]
    left = crop.point(120, 200)  # the subject alone
    assert not p["others"][int(left[1]), int(left[0])] and p["mask"][int(left[1]), int(left[0])]


def test_a_crop_without_a_mask_of_its_own_gets_no_others(tmp_path):
    _image(tmp_path / "im.jpg")
    _coco(tmp_path / "a.json", [_person((100, 50, 80, 300)),
                               _person((160, 60, 60, 280), segmentation=_rect(160, 60, 220, 340))])
    lone = [p for p in gt.annotated_people([tmp_path]) if p["mask"] is None]
    assert lone and all(p["others"] is None for p in lone)


def test_spill_counts_map_pixels_on_another_person_off_the_subject():
    subject = np.zeros((10, 10), bool)
    subject[:, :5] = True
    others = np.zeros((10, 10), bool)
    others[:, 3:] = True  # overlaps the subject on columns 3-4
    parts = np.zeros((10, 10), np.uint8)
    parts[:, :5] = 2  # all on the subject (some also on the other's mask): no spill
    assert bench_parts.spill(parts, subject, others) == 0.0
    parts[:, 5:7] = 4  # 20 of 70 pixels on the other person alone
    assert bench_parts.spill(parts, subject, others) == pytest.approx(20 / 70)
    assert bench_parts.spill(parts, subject, np.zeros_like(others)) is None  # nobody else in view
    assert bench_parts.spill(None, subject, others) is None
    assert bench_parts.spill(parts, None, others) is None
    assert bench_parts.spill(np.zeros_like(parts), subject, others) is None
