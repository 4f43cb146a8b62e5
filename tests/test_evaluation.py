"""Protocols, baseline descriptor, embedding, loaders and the CLI on the real mini datasets."""

from __future__ import annotations

import json
import sys
import types
import warnings
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from PIL import Image

from occreid.datasets import Dataset, Record, read_dataset
from occreid.evaluation import (
    FeatureError,
    FeatureTable,
    Preprocess,
    ProtocolError,
    ReIDDataset,
    StripeHistogram,
    baseline_features,
    embed_dataset,
    evaluate_dataset,
    evaluation_records,
    load_model,
    register_torchreid,
    settings,
)
from occreid.evaluation.cli import embed as embed_cmd
from occreid.evaluation.cli import evaluate as evaluate_cmd


def _dataset(name: str) -> Dataset:
    return read_dataset(shared_dataset(name))


@pytest.fixture(scope="module")
def prcc() -> Dataset:
    return _dataset("prcc-mini")


@pytest.fixture(scope="module")
def ltcc() -> Dataset:
    return _dataset("ltcc-mini")


@pytest.fixture(scope="module")
def market() -> Dataset:
    return _dataset("market1501-mini")


def identity_features(ds: Dataset, records=None) -> FeatureTable:
    """Features that encode the identity perfectly: one-hot of the pid."""
    records = records if records is not None else evaluation_records(ds)
    pids = sorted({r.pid for r in records})
    eye = np.eye(len(pids), dtype=np.float32)
    return FeatureTable([r.relpath for r in records], eye[[pids.index(r.pid) for r in records]])


def random_features(ds: Dataset, seed: int = 0) -> FeatureTable:
    records = evaluation_records(ds)
    return FeatureTable([r.relpath for r in records], np.random.default_rng(seed).normal(size=(len(records), 64)))


def chance_rank1(setting) -> float:
    return 1.0 / len({r.pid for r in setting.gallery})


# --- protocols --------------------------------------------------------------------------------


def test_prcc_settings_follow_the_protocol(prcc):
    got = {s.label: s for s in settings(prcc, single_shot_repeats=10, seed=0)}
    assert list(got) == ["same-clothes (multi-shot)", "cloth-changing (multi-shot)",
                         "same-clothes (single-shot x10)", "cloth-changing (single-shot x10)"]
    same, diff = got["same-clothes (multi-shot)"], got["cloth-changing (multi-shot)"]
    assert {r.camera for r in same.query} == {1} and {r.camera for r in diff.query} == {2}
    assert {r.camera for r in same.gallery} == {0} and all(r.split == "test" for r in same.gallery)
    assert (len(same.query), len(diff.query), len(same.gallery)) == (80, 80, 80)
    ss = got["cloth-changing (single-shot x10)"]
    n_ids = len({r.pid for r in ss.gallery})
    assert len(ss.draws) == 10 and all(len(d) == n_ids for d in ss.draws)
    for d in ss.draws:  # one image per identity
        assert sorted(ss.gallery[i].pid for i in d) == sorted({r.pid for r in ss.gallery})
    again = settings(prcc, single_shot_repeats=10, seed=0)[3]
    other = settings(prcc, single_shot_repeats=10, seed=1)[3]
    assert all((a == b).all() for a, b in zip(ss.draws, again.draws))
    assert any((a != b).any() for a, b in zip(ss.draws, other.draws))
    labels = [s.label for s in settings(prcc, single_shot_repeats=0)]
    assert labels == ["same-clothes (multi-shot)", "cloth-changing (multi-shot)"]


def test_ltcc_and_market_settings(ltcc, market):
    names = [(s.name, s.rule) for s in settings(ltcc)]
    assert names == [("general", "general"), ("cloth-changing", "cloth-changing"), ("same-clothes", "same-clothes")]
    s = settings(ltcc)[0]
    assert {r.split for r in s.query} == {"query"} and {r.split for r in s.gallery} == {"test"}
    assert (len(s.query), len(s.gallery)) == (64, 256)
    (m,) = settings(market)
    got = (m.name, {r.split for r in m.query}, {r.split for r in m.gallery})
    assert got == ("general", {"query"}, {"bounding_box_test"})


def test_layouts_without_protocols_are_refused(tmp_path):
    ds = Dataset(tmp_path, "folder", (Record("a/x.jpg", "a"),), ())
    with pytest.raises(ProtocolError, match="no evaluation protocol"):
        settings(ds)


def test_mars_without_its_info_tables_is_refused():
    with pytest.raises(ProtocolError, match="mars"):
        settings(_dataset("mars-mini"))


@pytest.mark.parametrize("name", ["prcc", "ltcc", "market"])
def test_identity_perfect_features_score_100(name, request):
    ds = request.getfixturevalue(name)
    results = evaluate_dataset(ds, identity_features(ds))
    assert results
    for setting, m in results:
        if setting.name == "same-clothes" and name == "ltcc":
            # ltcc-mini's clothes are tracklets, each seen by one camera: no same-clothes match exists
            assert m.num_valid == 0 and m.num_skipped == len(setting.query)
            continue
        assert m.num_valid > 0, setting.label
        assert m.mAP == pytest.approx(1.0) and np.allclose(m.cmc, 1.0), setting.label


def test_identity_perfect_features_score_100_in_every_ltcc_setting():
    # a synthetic LTCC test split in which all three settings have valid queries
    recs = []
    for pid in range(5):
        recs.append(Record(f"query/{pid:03d}_1_c1_000001.png", "query", pid, 0, f"{pid:03d}_1"))
        recs.append(Record(f"query/{pid:03d}_2_c2_000001.png", "query", pid, 1, f"{pid:03d}_2"))
        for k, cam in ((1, 0), (1, 2), (2, 2), (2, 0), (3, 3)):
            name = f"test/{pid:03d}_{k}_c{cam + 1}_{len(recs):06d}.png"
            recs.append(Record(name, "test", pid, cam, f"{pid:03d}_{k}"))
    ds = Dataset(Path("/nonexistent"), "ltcc", tuple(recs), ())
    results = evaluate_dataset(ds, identity_features(ds, [r for r in recs]))
    assert [s.name for s, _ in results] == ["general", "cloth-changing", "same-clothes"]
    for s, m in results:
        assert m.num_valid == 10 and m.mAP == pytest.approx(1.0) and np.allclose(m.cmc, 1.0), s.name


def test_random_features_score_low(prcc, ltcc):
    for ds in (prcc, ltcc):
        for s, m in evaluate_dataset(ds, random_features(ds)):
            if m.num_valid:
                assert m.rank(1) < 0.4 and m.mAP < 0.4, (ds.layout, s.label, m.as_dict())


def test_feature_table_errors(ltcc, tmp_path):
    ft = identity_features(ltcc)
    with pytest.raises(FeatureError, match="no feature"):
        evaluate_dataset(ltcc, FeatureTable(ft.paths[5:], ft.features[5:]))
    with pytest.raises(FeatureError, match="not images of"):
        evaluate_dataset(ltcc, FeatureTable(ft.paths + ["query/nope.png"], np.vstack([ft.features, ft.features[:1]])))
    with pytest.raises(FeatureError, match="more than once"):
        FeatureTable(ft.paths[:2] + ft.paths[:1], ft.features[:3])
    with pytest.raises(FeatureError, match="N x D"):
        FeatureTable(ft.paths[:2], ft.features[:3])
    # backslashes and ./ are normalised; the npz round-trips
    win = FeatureTable(["./" + p.replace("/", "\\") for p in ft.paths], ft.features)
    win.save(tmp_path / "f.npz")
    back = FeatureTable.load(tmp_path / "f.npz")
    assert back.paths == ft.paths and np.allclose(back.features, ft.features)
    np.savez(tmp_path / "bad.npz", feats=ft.features)
    with pytest.raises(FeatureError, match="lacks"):
        FeatureTable.load(tmp_path / "bad.npz")


# --- baseline descriptor ------------------------------------------------------------------------


def test_baseline_descriptor_beats_chance(prcc, ltcc):
    for ds in (prcc, ltcc):
        table = baseline_features(ds, workers=2)
        assert table.features.shape == (len(evaluation_records(ds)), StripeHistogram().dim)
        assert np.allclose(np.linalg.norm(table.features, axis=1), 1.0, atol=1e-5)
        for s, m in evaluate_dataset(ds, table):
            if m.num_valid:
                assert m.rank(1) > 3 * chance_rank1(s), (ds.layout, s.label, m.as_dict())


def test_baseline_descriptor_is_flip_invariant_and_sees_occluders(prcc):
    rec = evaluation_records(prcc)[0]
    im = Image.open(prcc.root / rec.relpath).convert("RGB")
    d = StripeHistogram()
    a = d.describe(im)
    assert np.allclose(a, d.describe(im.transpose(Image.FLIP_LEFT_RIGHT)), atol=1e-6)
    assert np.allclose(a, d.describe(im, flip=True), atol=1e-6)
    occluded = np.asarray(im).copy()
    occluded[: occluded.shape[0] // 2] = 0  # a black occluder over the upper body
    assert float(a @ d.describe(occluded)) < 0.95


# --- embedding ----------------------------------------------------------------------------------


def _tiny_torchscript(path: Path) -> Path:
    torch = pytest.importorskip("torch")

    class M(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=2).flatten(1)

    with warnings.catch_warnings():  # recent torch marks torch.jit deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(M()).save(str(path))
    return path


def _expected(paths, pre: Preprocess, flip: bool) -> np.ndarray:
    x = np.stack([pre(p) for p in paths])
    f = x.mean(axis=2).reshape(len(paths), -1)
    if flip:
        f = f + x[..., ::-1].mean(axis=2).reshape(len(paths), -1)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def test_embed_torchscript_shapes_and_flip_sum(ltcc, tmp_path):
    model = load_model(_tiny_torchscript(tmp_path / "m.pt"))
    pre = Preprocess(height=16, width=8)
    table = embed_dataset(ltcc, model, pre, batch_size=50, workers=2)
    records = evaluation_records(ltcc)
    assert table.paths == [r.relpath for r in records] and table.features.shape == (len(records), 3 * 8)
    some = [ltcc.root / p for p in table.paths[:5]]
    np.testing.assert_allclose(table.features[:5], _expected(some, pre, flip=True), rtol=1e-4, atol=1e-5)
    no_flip = embed_dataset(ltcc, model, pre, batch_size=50, flip=False, workers=2)
    np.testing.assert_allclose(no_flip.features[:5], _expected(some, pre, flip=False), rtol=1e-4, atol=1e-5)
    assert not np.allclose(no_flip.features[:5], table.features[:5])


def test_embed_onnx_matches_torchscript(ltcc, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is optional (pip install onnxruntime)")
    pytest.importorskip("onnx", reason="exporting the test model needs the onnx package")

    class M(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=2).flatten(1)

    x = torch.zeros(4, 3, 16, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(M(), (x,), str(tmp_path / "fixed.onnx"), input_names=["images"], dynamo=False)
    pre = Preprocess(height=16, width=8)
    paths = [ltcc.root / r.relpath for r in evaluation_records(ltcc)[:10]]
    from occreid.evaluation import embed_images
    onnx_feats = embed_images(load_model(tmp_path / "fixed.onnx"), paths, pre, batch_size=7)  # fixed batch 4
    np.testing.assert_allclose(onnx_feats, _expected(paths, pre, flip=True), rtol=1e-4, atol=1e-5)


def test_embed_torch_export_program(ltcc, tmp_path):
    torch = pytest.importorskip("torch")

    class M(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=2).flatten(1)

    program = torch.export.export(M(), (torch.zeros(2, 3, 16, 8),), dynamic_shapes={"x": {0: torch.export.Dim("n")}})
    torch.export.save(program, str(tmp_path / "m.pt2"))
    pre = Preprocess(height=16, width=8)
    paths = [ltcc.root / r.relpath for r in evaluation_records(ltcc)[:5]]
    from occreid.evaluation import embed_images
    feats = embed_images(load_model(tmp_path / "m.pt2"), paths, pre, batch_size=3)
    np.testing.assert_allclose(feats, _expected(paths, pre, flip=True), rtol=1e-4, atol=1e-5)


def test_model_errors_are_clear(tmp_path):
    from occreid.evaluation import ModelError
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="TorchScript|PyTorch"):
        load_model(bad)
    with pytest.raises(ModelError, match="not a file"):
        load_model(tmp_path / "missing.onnx")


# --- loaders ------------------------------------------------------------------------------------


def test_cal_style_lists_prcc(prcc):
    d = ReIDDataset(prcc.root)
    train = [r for r in prcc.records if r.split == "train"]
    assert d.layout == "prcc" and len(d.train) == len(train) == 195
    assert d.num_train_pids == 13 and d.num_train_clothes == 26
    assert d.pid2clothes.shape == (13, 26) and d.pid2clothes.sum() == 26
    assert sorted({s[1] for s in d.train}) == list(range(13))
    assert (len(d.query_same), len(d.query_diff), len(d.gallery)) == (80, 80, 80)
    assert len(d.val) == 45
    test_pids = sorted({s[1] for s in d.gallery})
    for path, pid, cam, clothes in d.gallery + d.query_same + d.query_diff:
        assert Path(path).is_file() and pid in test_pids  # test pids kept as they are
        assert clothes == 2 * test_pids.index(pid) + (cam == 2)
    # train: A and B share one outfit, C another
    outfits = {}
    for _, pid, cam, c in d.train:
        outfits.setdefault((pid, cam == 2), set()).add(c)
    assert all(len(v) == 1 for v in outfits.values())
    assert all(outfits[(pid, False)] != outfits[(pid, True)] for pid, _ in outfits)
    t_train, t_query, t_gallery = d.torchreid_lists()
    assert len(t_query) == 80 and {s[2] for s in t_query} == {2} and all(len(s) == 3 for s in t_train + t_gallery)
    assert len(d.torchreid_lists("both")[1]) == 160


def test_cal_style_lists_ltcc_and_market(ltcc, market):
    d = ReIDDataset(ltcc.root)
    assert (len(d.train), len(d.query), len(d.gallery)) == (96, 64, 256)
    assert d.num_train_pids == 16
    train_keys = sorted({r.clothes for r in ltcc.records if r.split == "train"})
    assert d.num_train_clothes == len(train_keys) and d.pid2clothes.shape == (16, len(train_keys))
    test_keys = sorted({r.clothes for r in ltcc.records if r.split in ("query", "test")})
    by_path = {str(ltcc.root / r.relpath): r for r in ltcc.records}
    for path, pid, cam, clothes in d.query + d.gallery:
        r = by_path[path]
        assert (pid, cam, test_keys[clothes]) == (r.pid, r.camera, r.clothes)
    m = ReIDDataset(market.root)
    assert len(m.train) == 32 and len(m.query) == 32 and len(m.gallery) == 32
    assert m.num_train_clothes == m.num_train_pids  # one outfit per identity


def test_register_torchreid_with_a_fake_torchreid(ltcc, monkeypatch):
    registry = {}

    class ImageDataset:
        def __init__(self, train, query, gallery, **kwargs):
            self.train, self.query, self.gallery, self.kwargs = train, query, gallery, kwargs

    data = types.SimpleNamespace(ImageDataset=ImageDataset,
                                 register_image_dataset=lambda name, cls: registry.__setitem__(name, cls))
    monkeypatch.setitem(sys.modules, "torchreid", types.SimpleNamespace(data=data))
    cls = register_torchreid("occ_ltcc_mini", ltcc.root)
    assert registry["occ_ltcc_mini"] is cls and issubclass(cls, ImageDataset)
    built = cls(root="ignored", mode="train", verbose=False)
    assert (len(built.train), len(built.query), len(built.gallery)) == (96, 64, 256)
    assert all(len(s) == 3 for s in built.train) and built.kwargs == {"mode": "train", "verbose": False}
    assert sorted({s[1] for s in built.train}) == list(range(16))


def test_register_torchreid_without_torchreid(ltcc, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchreid", None)
    with pytest.raises(ImportError, match="pip install torchreid"):
        register_torchreid("x", ltcc.root)


# --- CLI ----------------------------------------------------------------------------------------


@pytest.fixture()
def cli():
    @click.group()
    def main():
        pass

    main.add_command(embed_cmd)
    main.add_command(evaluate_cmd)
    return main


def test_cli_evaluate_baseline_writes_json(cli, ltcc, tmp_path):
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["evaluate", str(ltcc.root), "--json", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "general" in res.output and "cloth-changing" in res.output and "R-1" in res.output
    report = json.loads(out.read_text())
    assert report["dataset"]["layout"] == "ltcc" and "baseline" in report["dataset"]["features"]
    assert list(report["dataset"]["settings"]) == ["general", "cloth-changing", "same-clothes"]
    for m in report["dataset"]["settings"].values():
        assert {"rank1", "rank5", "rank10", "rank20", "mAP", "queries", "queries_used", "queries_skipped"} <= set(m)
    assert report["dataset"]["settings"]["general"]["rank1"] > 100 * 3 / 16


def test_cli_evaluate_features_and_compare(cli, prcc, tmp_path):
    f1, f2 = tmp_path / "f1.npz", tmp_path / "f2.npz"
    identity_features(prcc).save(f1)
    random_features(prcc).save(f2)
    out = tmp_path / "r.json"
    args = ["evaluate", str(prcc.root), "-f", str(f1), "--compare", str(prcc.root), "--features2", str(f2),
            "--json", str(out), "--single-shot-repeats", "3", "--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert set(report) == {"dataset", "compare", "drop"}
    keys = ["same-clothes/multi-shot", "cloth-changing/multi-shot", "same-clothes/single-shot-x3",
            "cloth-changing/single-shot-x3"]
    assert list(report["drop"]) == keys and "single-shot x3" in res.output and "drop" in res.output
    for k in keys:
        assert report["dataset"]["settings"][k]["rank1"] == 100.0 and report["dataset"]["settings"][k]["mAP"] == 100.0
        assert report["drop"][k]["mAP"] > 50
    # features for only one of the two datasets is a usage error
    res = CliRunner().invoke(cli, ["evaluate", str(prcc.root), "-f", str(f1), "--compare", str(prcc.root)])
    assert res.exit_code == 2 and "--features2" in res.output


def test_cli_evaluate_draws_prcc_single_shot_as_cal_does(cli, prcc, tmp_path):
    from occreid.evaluation.protocols import settings

    f = tmp_path / "f.npz"
    random_features(prcc).save(f)
    out = {}
    for draws in ("occreid", "cal"):
        out[draws] = tmp_path / f"{draws}.json"
        res = CliRunner().invoke(cli, ["evaluate", str(prcc.root), "-f", str(f), "--single-shot-draws", draws,
                                       "--single-shot-repeats", "4", "--json", str(out[draws]), "--no-progress"])
        assert res.exit_code == 0, res.output
    ours, cal = (json.loads(out[d].read_text())["dataset"]["settings"] for d in ("occreid", "cal"))
    assert "cloth-changing/single-shot-x4-cal" in cal and "cloth-changing/single-shot-x4" in ours
    assert ours["cloth-changing/multi-shot"] == cal["cloth-changing/multi-shot"]
    expected = {s.key: s for s in settings(prcc, 4, single_shot="cal")}["cloth-changing/single-shot-x4-cal"]
    assert cal["cloth-changing/single-shot-x4-cal"]["queries"] == len(expected.query)


def test_cli_evaluate_reports_bad_features(cli, ltcc, tmp_path):
    ft = identity_features(ltcc)
    f = tmp_path / "f.npz"
    FeatureTable(ft.paths[3:], ft.features[3:]).save(f)
    res = CliRunner().invoke(cli, ["evaluate", str(ltcc.root), "-f", str(f), "--no-progress"])
    assert res.exit_code == 2 and "no feature" in res.output and ft.paths[0] in res.output


def test_cli_embed_then_evaluate(cli, ltcc, tmp_path):
    model = _tiny_torchscript(tmp_path / "m.pt")
    out = tmp_path / "feats" / "f.npz"
    res = CliRunner().invoke(cli, ["embed", str(ltcc.root), "--model", str(model), "--out", str(out),
                                   "--height", "16", "--width", "8", "--no-progress"])
    assert res.exit_code == 0, res.output
    with np.load(out) as z:
        assert z["features"].shape == (320, 24) and all("\\" not in p for p in z["paths"])
    res = CliRunner().invoke(cli, ["evaluate", str(ltcc.root), "-f", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    bad = CliRunner().invoke(cli, ["embed", str(ltcc.root), "--model", str(model), "--out", str(out), "--mean", "1,2"])
    assert bad.exit_code != 0 and "three" in bad.output
