"""fast-reid and torchreid registration of any layout, checked through the public code itself (imported from
its source mirror, skipped with the reason when absent) and by an independent contract test; and the pid-0
distractors of Market-1501 kept out of the training identities that ``combineall`` adds."""

from __future__ import annotations

import os
import shutil
import sys

import public_code
import pytest
from conftest import shared_dataset
from datasets_fixtures import MARS_MINI, build_occluded_reid, build_p_duke

from occreid.evaluation import loaders
from occreid.evaluation.fastreid import FASTREID_INSTALL, fastreid_lists, register_fastreid
from occreid.evaluation.loaders import ReIDDataset, register_torchreid


@pytest.fixture
def market(tmp_path):
    """market1501-mini with two pid-0 distractors and a pid -1 junk image added to its gallery, under
    ``reid-data/market1501/`` (where torchreid's ``Market1501`` looks)."""
    root = tmp_path / "reid-data" / "market1501"
    shutil.copytree(shared_dataset("market1501-mini"), root)
    crops = sorted((root / "bounding_box_test").glob("*.jpg"))
    for src, name in zip(crops, ("0000_c1s1_000151_01.jpg", "0000_c3s1_000551_00.jpg", "-1_c2s1_000301_00.jpg")):
        shutil.copyfile(src, root / "bounding_box_test" / name)
    return root


@pytest.fixture
def clean():
    yield
    public_code.forget()


@pytest.mark.filterwarnings("ignore::UserWarning")  # the public code's own notices
def test_fastreid_builds_an_occluded_twin_as_its_own_market(tmp_path, monkeypatch, clean, market):
    fr = public_code.fastreid(tmp_path, monkeypatch)
    cls = register_fastreid("OccMarketMini", market)
    assert fr.DATASET_REGISTRY.get("OccMarketMini") is cls and issubclass(cls, fr.ImageDataset)
    ours = fr.DATASET_REGISTRY.get("OccMarketMini")(root="ignored", combineall=True)
    theirs = fr.Market1501(root=str(market), combineall=True)  # fast-reid's own reading of the same folder

    def labels(items, prefix):
        return sorted((os.path.basename(p), str(pid).replace(prefix, ""), str(cam).replace(prefix, ""))
                      for p, pid, cam in items)

    assert labels(ours.query, "") == labels(theirs.query, "") and labels(ours.gallery, "") == labels(theirs.gallery, "")
    assert len(ours.train) == len(theirs.train) > 0  # combineall: pid 0 distractors and -1 junk left out by both
    train_set = fr.CommDataset(ours.train, relabel=True)
    assert train_set.num_classes == fr.CommDataset(theirs.train, relabel=True).num_classes
    ours.show_train(), ours.show_test()  # fast-reid's own summaries run on the lists
    with pytest.raises(ValueError, match="already has"):
        register_fastreid("OccMarketMini", market)


def test_fastreid_lists_contract(tmp_path):
    """Independent of fast-reid's code: its documented item forms, for a layout without cameras in names."""
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    root = build_p_duke(tmp_path)
    train, query, gallery = fastreid_lists("PDuke", ReIDDataset(root))
    assert train and all(isinstance(pid, str) and pid.startswith("PDuke_") and cam in ("PDuke_0", "PDuke_1")
                         for _, pid, cam in train)
    assert all(isinstance(pid, int) and cam == 0 for _, pid, cam in query)
    assert all(isinstance(pid, int) and cam == 1 for _, pid, cam in gallery)
    assert {p for p, _, _ in query}.isdisjoint(p for p, _, _ in gallery)


def test_fastreid_missing_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastreid", None)
    with pytest.raises(ImportError) as info:
        register_fastreid("X", "/nowhere")
    assert str(info.value) == FASTREID_INSTALL and "git clone https://github.com/JDAI-CV/fast-reid" in FASTREID_INSTALL


@pytest.mark.filterwarnings("ignore::UserWarning")  # the public code's own notices
def test_torchreid_combineall_keeps_distractors_out_as_torchreid_does(tmp_path, clean, market):
    tr = public_code.torchreid(tmp_path)
    ours = register_torchreid("occ_market_mini", market)(root="", combineall=True, verbose=False)
    theirs = tr.Market1501(root=str(market.parent), combineall=True, verbose=False)
    assert tr.registry["occ_market_mini"]._junk_pids == [0, -1]
    assert (len(ours.train), ours.num_train_pids) == (len(theirs.train), theirs.num_train_pids)
    assert all(pid < ours.num_train_pids for _, pid, _, _ in ours.train)
    assert sum(p.endswith("0000_c1s1_000151_01.jpg") for p, *_ in ours.gallery) == 1  # still a distractor there
    assert not any("/0000_" in p for p, *_ in ours.train)


def test_torchreid_test_only_layouts_get_a_dummy_train(tmp_path, clean):
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    public_code.torchreid(tmp_path)
    ds = register_torchreid("occ_reid", build_occluded_reid(tmp_path / "o"))(root="", verbose=False)
    assert len(ds.query) == 10 and len(ds.gallery) == 10 and len(ds.train) == 20


def test_torchreid_missing_says_install_from_source(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchreid", None)
    with pytest.raises(ImportError) as info:
        register_torchreid("x", "/nowhere")
    msg = str(info.value)
    assert "github.com/KaiyangZhou/deep-person-reid" in msg and "pip install torchreid` installs another" in msg
    assert loaders.TORCHREID_INSTALL == msg
