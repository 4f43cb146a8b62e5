"""Every dataset declaration on a fixture built in its exact layout from real crops: detected, read as its
public loader reads it, every evaluation setting scoring 100 with perfect features, and its occluded twin
re-read to the same records."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from datasets_fixtures import BUILDERS, MARS_MINI, public_reading

from occreid.datasets import DATASETS, declaration, detect_layout, loader_hazards, read_dataset
from occreid.datasets.prcc import cal_gallery_order
from occreid.evaluation import FeatureTable, evaluate_dataset, evaluation_records, settings
from occreid.evaluation.loaders import ReIDDataset
from occreid.runner import GenerateConfig, generate

#: name -> (records, settings evaluated) verified on the fixture
EXPECTED = {
    "ltcc": (20, ["general", "cloth-changing", "same-clothes"]),
    "duke": (14, ["general"]),
    "msmt17": (18, ["general"]),
    "mars": (62, ["general"]),
    "ccvid": (64, ["general", "same-clothes", "cloth-changing"]),
    "vcclothes": (36, ["general", "same-clothes", "cloth-changing"]),
    "deepchange": (38, ["val", "test"]),
    "last": (19, ["val", "test"]),
    "celeb": (18, ["general"]),
    "celeb-light": (18, ["general"]),
    "occluded-duke": (14, ["general"]),
    "occluded-reid": (20, ["general"]),
    "partial-reid": (16, ["general"]),
    "p-duke": (18, ["general"]),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")  # skips with the reason
    base = tmp_path_factory.mktemp("datasets")
    return {name: build(base / name) for name, build in BUILDERS.items()}


def perfect(ds) -> FeatureTable:
    records = evaluation_records(ds)
    pids = sorted({r.pid for r in records})
    eye = np.eye(len(pids), dtype=np.float32)
    return FeatureTable([r.relpath for r in records], eye[[pids.index(r.pid) for r in records]])


def as_tuples(ds) -> list[tuple]:
    return sorted((r.relpath, r.split, r.pid, r.camera, r.clothes) for r in ds.records)


def test_every_dataset_is_declared_once_and_offered_as_a_layout():
    assert set(EXPECTED) | {"prcc", "market", "folder"} == set(DATASETS)
    for name, cls in DATASETS.items():
        assert cls.name == name and cls.expected.startswith(name + ":") and cls.__doc__


@pytest.mark.parametrize("name", list(EXPECTED))
def test_detected_and_read_as_the_public_loader_reads_it(built, name):
    root = built[name]
    assert detect_layout(root).name == name
    ds = read_dataset(root)
    assert ds.layout == name and len(ds.records) == EXPECTED[name][0]
    assert as_tuples(ds) == public_reading(name, root)
    assert all((root / r.relpath).is_file() for r in ds.records)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_setting_scores_100_with_perfect_features(built, name):
    ds = read_dataset(built[name])
    results = evaluate_dataset(ds, perfect(ds))
    assert [s.name for s, _ in results] == EXPECTED[name][1]
    for s, m in results:
        assert m.num_valid > 0 and m.num_skipped == 0, (name, s.name)
        assert m.mAP == pytest.approx(1.0) and np.allclose(m.cmc, 1.0), (name, s.name)


def test_lists_and_side_files(built):
    msmt = read_dataset(built["msmt17"])
    assert "MSMT17_V1/train/0009/0009_000_01_0303morning_0000_0.jpg" in msmt.other_files  # in no list
    assert {"MSMT17_V1/list_train.txt", "MSMT17_V1/list_query.txt"} <= set(msmt.other_files)
    lists = ReIDDataset(built["msmt17"])
    assert (len(lists.train), len(lists.query), len(lists.gallery)) == (5, 4, 8)  # val left out of train
    deep = ReIDDataset(built["deepchange"])
    assert {Path(s[0]).parent.name for s in deep.query} == {"test-set-query"}
    assert {Path(s[0]).parent.name for s in deep.val_gallery} == {"val-set-gallery"} and len(deep.val_query) == 4
    assert len({s[2] for s in ReIDDataset(built["last"]).gallery}) == 6  # one camera per image


def test_video_settings_average_tracklets(built):
    ds = read_dataset(built["ccvid"])
    general = settings(ds)[0]
    assert general.video and len({r.tracklet for r in general.query}) == 4
    assert len({r.tracklet for r in general.gallery}) == 8
    (_, m), *_ = evaluate_dataset(ds, perfect(ds))
    assert (m.num_queries, m.num_gallery) == (4, 8) and m.extra["unit"] == "tracklet"
    mars = read_dataset(built["mars"])
    decl = declaration(mars)
    roles = {decl.role(r) for r in mars.records}
    assert roles == {"train", "query", "gallery", None}  # None: the junk tracklet
    # one frame's feature flipped to another identity does not change a 4-frame tracklet's rank-1
    table = perfect(mars)
    table.features[0] = np.roll(table.features[0], 1)
    assert all(m.rank(1) == 1.0 for _, m in evaluate_dataset(mars, table))


def test_mars_without_info_is_read_but_not_evaluated(built, tmp_path):
    src = tmp_path / "mars"
    shutil.copytree(built["mars"], src)
    shutil.rmtree(src / "info")
    ds = read_dataset(src)
    from occreid.evaluation import ProtocolError
    with pytest.raises(ProtocolError, match="info"):
        settings(ds)


def test_path_hazards_are_declared(built):
    vc = read_dataset(built["vcclothes"])
    assert loader_hazards("vcclothes", "/data/2024-01-02-03/out", vc.records)
    assert loader_hazards("vcclothes", "/data/occ_vc", vc.records) == []
    last = read_dataset(built["last"])
    assert any("query" in w for w in loader_hazards("last", "/data/query_runs/occ_last", last.records))
    assert loader_hazards("last", "/data/occ_last", last.records) == []


# --- PRCC single-shot: CAL's draws --------------------------------------------------------------------------


def cal_draws_literally(root: Path) -> list[list[str]]:
    """CAL's procedure on a sorted listing: indices per identity in folder order, random.seed(3), 10 rounds."""
    gallery = cal_gallery_order(root, "sorted")
    pid2idx: dict[str, list[int]] = {}
    for i, rel in enumerate(gallery):
        pid2idx.setdefault(rel.split("/")[-2], []).append(i)
    state = random.getstate()
    random.seed(3)
    try:
        return [[gallery[random.choice(pid2idx[p])] for p in pid2idx] for _ in range(10)]
    finally:
        random.setstate(state)


def test_prcc_single_shot_draws_exactly_as_cal():
    ds = read_dataset(shared_dataset("prcc-mini"))
    before = random.getstate()
    chosen = settings(ds, single_shot="cal")
    assert random.getstate() == before  # CAL's draws leave the global random state alone
    cal = [s for s in chosen if "CAL" in s.gallery_protocol]
    assert [s.key for s in cal] == ["same-clothes/single-shot-x10-cal", "cloth-changing/single-shot-x10-cal"]
    want = cal_draws_literally(ds.root)
    got = [[cal[0].gallery[i].relpath for i in d] for d in cal[0].draws]
    assert got == want
    ours = [s for s in settings(ds) if s.gallery_protocol == "single-shot x10"][0]
    assert any((a != b).any() for a, b in zip(ours.draws, cal[0].draws))  # occreid's own draws differ
    perfect_scores = evaluate_dataset(ds, perfect(ds), single_shot="cal")
    assert all(m.mAP == pytest.approx(1.0) for _, m in perfect_scores)


# --- the occluded twin re-reads to the same records --------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_occluded_twin_rereads_to_the_same_records(built, name, tmp_path):
    src = built[name]
    out = tmp_path / "twin" / src.name
    result = generate(GenerateConfig(input=src, output=out, parser="parsers:BoxParser", workers=1))
    assert result.errors == 0
    a, b = read_dataset(src), read_dataset(out)
    assert b.layout == name and b.records == a.records
    for rel in a.other_files:  # list files and the rest copied unchanged, still valid for the output
        assert (out / rel).read_bytes() == (src / rel).read_bytes()


def test_prcc_cal_order_is_explicit():
    root = shared_dataset("prcc-mini")
    listed, fs = cal_gallery_order(root, "sorted"), cal_gallery_order(root, "filesystem")
    assert sorted(fs) == sorted(listed) == listed and all(p.startswith("rgb/test/A/") for p in listed)
    ds = read_dataset(root)
    cal_fs = [s for s in settings(ds, single_shot="cal", cal_order="filesystem") if "CAL" in s.gallery_protocol][0]
    for d in cal_fs.draws:  # one image per identity, whatever the listing order
        assert sorted(cal_fs.gallery[i].pid for i in d) == sorted({r.pid for r in cal_fs.gallery})
    with pytest.raises(ValueError, match="order"):
        cal_gallery_order(root, "random")


def test_video_datasets_register_in_torchreid_as_video(built, monkeypatch):
    import sys
    import types

    from occreid.evaluation import register_torchreid

    registry = {}

    class VideoDataset:
        def __init__(self, train, query, gallery, **kwargs):
            self.train, self.query, self.gallery = train, query, gallery

    data = types.SimpleNamespace(VideoDataset=VideoDataset, ImageDataset=object,
                                 register_video_dataset=lambda n, c: registry.__setitem__(n, c),
                                 register_image_dataset=lambda n, c: pytest.fail("registered as images"))
    monkeypatch.setitem(sys.modules, "torchreid", types.SimpleNamespace(data=data))
    cls = register_torchreid("occ_ccvid", built["ccvid"])
    got = cls(root="ignored")
    assert registry["occ_ccvid"] is cls and (len(got.train), len(got.query), len(got.gallery)) == (4, 4, 8)
    paths, pid, camid = got.query[0]
    assert len(paths) == 4 and len({Path(p).parent for p in paths}) == 1 and isinstance(pid, int)
    mars = register_torchreid("occ_mars", built["mars"])(root="")
    assert (len(mars.train), len(mars.query), len(mars.gallery)) == (3, 4, 8)  # the junk tracklet left out


def test_alternative_roots(built, tmp_path):
    # MSMT17_V2's folder names; Duke inside torchreid's dukemtmc-reid/DukeMTMC-reID/
    v2 = tmp_path / "msmt17"
    shutil.copytree(built["msmt17"] / "MSMT17_V1", v2 / "MSMT17_V2")
    (v2 / "MSMT17_V2" / "train").rename(v2 / "MSMT17_V2" / "mask_train_v2")
    (v2 / "MSMT17_V2" / "test").rename(v2 / "MSMT17_V2" / "mask_test_v2")
    want = [(r.split, r.pid, r.camera) for r in read_dataset(built["msmt17"]).records]
    got = read_dataset(v2)
    assert got.layout == "msmt17" and [(r.split, r.pid, r.camera) for r in got.records] == want
    assert all(r.relpath.startswith("MSMT17_V2/mask_") for r in got.records)
    duke = tmp_path / "dukemtmc-reid"
    shutil.copytree(built["duke"], duke / "DukeMTMC-reID")
    ds = read_dataset(duke)
    assert ds.layout == "duke" and len(ds.records) == EXPECTED["duke"][0]
    assert all(r.relpath.startswith("DukeMTMC-reID/") for r in ds.records)
    assert [s.name for s in settings(ds)] == ["general"]


@pytest.mark.parametrize("layout, out", [("ltcc", "/data/occ_cloth/LTCC_ReID"), ("ltcc", "/data/my_c1/x_c/LTCC"),
                                         ("duke", "/data/run-1_c2/occ")])
def test_path_hazard_states_the_loaders_rule_and_a_path_they_read_right(built, layout, out):
    records = read_dataset(built[layout]).records
    (warning,) = loader_hazards(layout, out, records)
    assert declaration(read_dataset(built[layout])).path_rule in warning
    suggested = warning.rsplit("e.g. ", 1)[1].rstrip(".")
    assert suggested != out and loader_hazards(layout, suggested, records) == []
