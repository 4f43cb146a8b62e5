"""``occreid labels`` on Occluded-REID: the label files where BPBReID's and KPR's own ``OccludedReID``
classes look for them (the split folder two above the image, KPR's ``.tif_keypoints.json``), for the
dataset and for its occluded twin, loaded through their code (``public_partbased``; skipped with the
reason where that source is not available)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import public_partbased as public
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from datasets_fixtures import MARS_MINI, build_occluded_reid
from PIL import Image
from test_labels import BOX, BoxFinder

from occreid.cli import main
from occreid.labels import LabelsConfig, label_relpath, write_labels
from occreid.labels.formats import KEYPOINTS_SUFFIX, MASKS_SUFFIX, loader_paths
from occreid.runner import GenerateConfig, generate

KP_SUFFIX = ".tif_keypoints.json"  # KPR's OccludedReID.infer_kp_path, written out independently
BPB_SUFFIX = ".tif.confidence_fields.npy"  # BPBReID's OccludedReID.masks_dirs["pifpaf"]


def _kp_file(root: Path, relpath: str) -> Path:
    split, _pid, name = relpath.split("/")
    return root / "external_annotation" / "occreid_mediapipe" / split / (name.rsplit(".", 1)[0] + KP_SUFFIX)


def _label(root: Path) -> None:
    """KPR's pifpaf entry (suffix .jpg.confidence_fields.npy) with the keypoints; BPBReID's beside it."""
    write_labels(LabelsConfig(dataset=root, output=root, parser=BOX, stride=1), finder=BoxFinder())
    write_labels(LabelsConfig(dataset=root, output=root, parser=BOX, stride=2, keypoints=False, masks_dir="bpb",
                              masks_suffix=BPB_SUFFIX), finder=BoxFinder())


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    root = build_occluded_reid(tmp_path_factory.mktemp("oreid"))
    _label(root)
    return root


@pytest.fixture(scope="module")
def twin(original, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("oreid-twin") / "Occluded_REID"
    generate(GenerateConfig(input=original, output=out, parser=BOX, workers=1, save_masks=True, seed=3))
    _label(out)
    return out


def _images(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*_body_images/*/*.tif"))


def test_the_occluded_reid_rule_keeps_the_split_folder_and_kprs_tif_suffix():
    paths = loader_paths("occluded-reid")
    assert (paths.up, paths.keypoints_suffix) == (2, KP_SUFFIX)
    assert (loader_paths("market").up, loader_paths(None).keypoints_suffix) == (1, KEYPOINTS_SUFFIX)
    rel = "occluded_body_images/001/001_01.tif"
    assert label_relpath(rel, KP_SUFFIX, up=2) == "occluded_body_images/001_01" + KP_SUFFIX
    assert label_relpath("Occluded_REID/" + rel, MASKS_SUFFIX, up=2) == "occluded_body_images/001_01" + MASKS_SUFFIX
    assert label_relpath(rel, ".npy", "mirror", up=2) == "occluded_body_images/001/001_01.npy"


def test_the_command_labels_occluded_reid_without_mirror_paths(tmp_path):
    """Both splits hold 001/001_01.tif: the parent-folder rule would give them one file; theirs does not."""
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    root = build_occluded_reid(tmp_path)
    result = CliRunner().invoke(main, ["labels", str(root), "--out", str(root), "--parser", BOX, "--no-keypoints",
                                       "--masks-format", "isp_6_parts"])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(root / "masks" / "isp_6_parts").as_posix()
                     for p in (root / "masks" / "isp_6_parts").rglob("*.npy"))
    assert written == sorted(f"{r.split('/')[0]}/{r.rsplit('/', 1)[1][:-4]}{MASKS_SUFFIX}" for r in _images(root))
    assert len(written) == 20
    record = json.loads((root / "_occreid" / "labels.json").read_text())
    assert record["layout"] == "occluded-reid" and record["paths"] == {"rule": "bpbreid", "folder_up": 2}


@pytest.mark.parametrize("which", ["original", "twin"])
def test_kpr_occluded_reid_reads_the_keypoints_and_part_fields(which, request):
    pytest.importorskip("torch", reason="KPR's dataset code needs torch")
    kpr = public.load("kpr")
    if isinstance(kpr, str):
        pytest.skip(kpr)
    root = request.getfixturevalue(which)
    cfg = public.kpr_config("occreid_mediapipe")
    ds = kpr.occluded_reid.OccludedReID(root=str(root.parent), masks_dir="pifpaf", config=cfg, verbose=False)
    samples = ds.query + ds.gallery
    assert sorted(Path(s["img_path"]).relative_to(root).as_posix() for s in samples) == _images(root)
    heatmaps = kpr.keypoints_to_masks.KeypointsToMasks(mode="keypoints_gaussian", vis_thresh=0.3)
    hidden = 0
    for sample in samples:
        rel = Path(sample["img_path"]).relative_to(root).as_posix()
        assert Path(sample["kp_path"]) == _kp_file(root, rel)
        h, w = np.asarray(Image.open(sample["img_path"])).shape[:2]
        skeletons = kpr.tools.read_keypoints(sample["kp_path"], (0, 0, w, h))  # their reader, as getitem calls it
        ours = json.loads(_kp_file(root, rel).read_text())
        assert skeletons.shape == (1, 17, 3) and ours[0]["is_target"] is True
        assert np.allclose(skeletons[0], np.array(ours[0]["keypoints"]))
        maps = heatmaps(skeletons[0], (w, h), (w // 4, h // 4))
        visible = skeletons[0][:, 2] > 0.3
        assert (maps[visible].reshape(int(visible.sum()), -1).max(axis=1) > 0).all() and not maps[~visible].any()
        fields = kpr.tools.read_masks(sample["masks_path"])  # np.load, to H x W x C
        assert fields.shape == (h, w, 36) and fields.dtype == np.float32
        if which == "twin" and (root / "_occreid" / "masks" / f"{rel}.png").is_file():
            covered = np.array(Image.open(root / "_occreid" / "masks" / f"{rel}.png")).astype(bool)
            assert not fields[covered].any()  # the occluder's pixels are in no field
            seen = skeletons[0][:, 2] > 0
            assert not covered[skeletons[0][seen, 1].astype(int), skeletons[0][seen, 0].astype(int)].any()
            hidden += int((~seen).sum())
    if which == "twin":
        assert hidden > 0  # some keypoints fell under an occluder


@pytest.mark.parametrize("which", ["original", "twin"])
def test_bpbreid_occluded_reid_reads_the_part_fields(which, request):
    pytest.importorskip("torch", reason="BPBReID's dataset code needs torch")
    bpb = public.load("bpbreid")
    if isinstance(bpb, str):
        pytest.skip(bpb)
    root = request.getfixturevalue(which)
    cls = bpb.occluded_reid.OccludedReID
    assert cls.masks_dirs["pifpaf"] == (36, False, BPB_SUFFIX)
    cls.masks_dirs["bpb"] = cls.masks_dirs["pifpaf"]  # the same entry under the folder the fixture wrote
    ds = cls(root=str(root.parent), masks_dir="bpb", use_masks=True, load_masks=True,
             transform_tr=lambda **kw: kw, transform_te=lambda **kw: kw, verbose=False)
    for mode in ("query", "gallery"):
        assert len(ds.data(mode)) == 10
        for i in range(len(ds.data(mode))):
            sample = ds.getitem(i, mode)  # their read_image (OpenCV) and read_masks (np.load, to H x W x C)
            h, w = sample["image"].shape[:2]
            assert sample["mask"].shape == ((h + 1) // 2, (w + 1) // 2, 36)
            assert sample["mask"].any()
