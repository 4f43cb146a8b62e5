"""Evaluation as the field reports it, checked against the public code itself (read from the source mirrors of
fast-reid and torchreid, skipped with the reason when absent) and against a literal CAL evaluation: mINP,
k-reciprocal re-ranking, squared Euclidean distance, the tie rule that reproduces CAL's torch path, and the
per-query output."""

from __future__ import annotations

import csv
import json

import numpy as np
import public_code
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from datasets_fixtures import MARS_MINI, build_occluded_reid

from occreid.cli import main
from occreid.datasets import read_dataset
from occreid.evaluation import FeatureTable, evaluation_records
from occreid.evaluation.distances import CosineDistance, EuclideanDistance
from occreid.evaluation.metrics import evaluate_labels
from occreid.evaluation.protocols import ProtocolError, Scoring
from occreid.evaluation.rerank import re_ranking

FASTREID, TORCHREID = "JDAI-CV/fast-reid", "KaiyangZhou/deep-person-reid"


def _labels(rng, q: int, g: int, ids: int = 12, cams: int = 4):
    return (rng.integers(ids, size=q), rng.integers(ids, size=g),
            rng.integers(cams, size=q), rng.integers(cams, size=g))


@pytest.mark.filterwarnings("ignore::UserWarning")  # the public code's own notices
def test_cmc_map_and_minp_equal_fast_reids_evaluate_rank(tmp_path):
    rank = public_code.module(FASTREID, "fastreid/evaluation/rank.py", tmp_path)
    rng = np.random.default_rng(1)
    for q, g in ((30, 80), (57, 200)):
        q_pids, g_pids, q_cams, g_cams = _labels(rng, q, g)
        dist = rng.random((q, g)).astype(np.float32)  # no ties
        cmc, all_ap, all_inp = rank.eval_market1501(dist, q_pids, g_pids, q_cams, g_cams, 20)
        m = evaluate_labels(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
        np.testing.assert_allclose(m.cmc, cmc, rtol=1e-6)
        assert m.mAP == pytest.approx(np.mean(all_ap), rel=1e-12)
        assert m.mINP == pytest.approx(np.mean(all_inp), rel=1e-12) and m.mINP < m.mAP
        assert m.num_valid == len(all_inp)


@pytest.mark.parametrize("repo, path", [(FASTREID, "fastreid/evaluation/rerank.py"),
                                        (TORCHREID, "torchreid/utils/rerank.py")])
def test_re_ranking_equals_the_public_implementations(tmp_path, repo, path):
    ref = public_code.module(repo, path, tmp_path)
    rng = np.random.default_rng(2)
    for q, g, d in ((6, 25, 4), (20, 70, 8), (40, 160, 16)):
        qf, gf = rng.normal(size=(q, d)).astype(np.float32), rng.normal(size=(g, d)).astype(np.float32)
        args = [np.asarray(EuclideanDistance(a, b)).astype(np.float32) for a, b in ((qf, gf), (qf, qf), (gf, gf))]
        for k1, k2, lam in ((20, 6, 0.3), (5, 3, 0.5), (3, 1, 0.0)):
            np.testing.assert_array_equal(re_ranking(*args, k1, k2, lam), ref.re_ranking(*args, k1, k2, lam))


def test_re_ranking_changes_rankings_and_refuses_bad_shapes():
    rng = np.random.default_rng(3)
    qf, gf = rng.normal(size=(10, 6)), rng.normal(size=(40, 6))
    d = np.asarray(EuclideanDistance(qf, gf))
    r = re_ranking(d, np.asarray(EuclideanDistance(qf, qf)), np.asarray(EuclideanDistance(gf, gf)))
    assert r.shape == d.shape and (np.argsort(r, axis=1) != np.argsort(d, axis=1)).any()
    with pytest.raises(ValueError, match="re-ranking needs"):
        re_ranking(d, d, d)


def test_euclidean_distance_equals_torchreids(tmp_path):
    torch = pytest.importorskip("torch")
    dist = public_code.module(TORCHREID, "torchreid/metrics/distance.py", tmp_path)
    rng = np.random.default_rng(4)
    qf, gf = rng.normal(size=(15, 32)).astype(np.float32), rng.normal(size=(50, 32)).astype(np.float32)
    theirs = dist.compute_distance_matrix(torch.from_numpy(qf), torch.from_numpy(gf), "euclidean").numpy()
    ours = np.asarray(EuclideanDistance(qf, gf))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
    assert (np.argsort(ours, axis=1) == np.argsort(theirs, axis=1)).mean() > 0.99
    theirs_cos = dist.compute_distance_matrix(torch.from_numpy(qf), torch.from_numpy(gf), "cosine").numpy()
    np.testing.assert_allclose(np.asarray(CosineDistance(qf, gf)) + 1, theirs_cos, atol=1e-6)  # 1 - cos


def _cal_evaluate(distmat, q_pids, g_pids, q_camids, g_camids):
    """CAL's tools/eval_metrics.py ``evaluate``, literally: np.argsort per query, junk removal, CMC and AP."""
    num_q, num_g = distmat.shape
    index = np.argsort(distmat, axis=1)
    cmc_all, ap_sum, valid = np.zeros(num_g), 0.0, 0
    for i in range(num_q):
        query_index = np.argwhere(g_pids == q_pids[i])
        camera_index = np.argwhere(g_camids == q_camids[i])
        good_index = np.setdiff1d(query_index, camera_index, assume_unique=True)
        if good_index.size == 0:
            continue
        junk_index = np.intersect1d(query_index, camera_index)
        order = index[i][np.in1d(index[i], junk_index, invert=True)]
        rows_good = np.argwhere(np.in1d(order, good_index)).flatten()
        cmc = np.zeros(num_g)
        cmc[rows_good[0]:] = 1.0
        ap = sum((k + 1) / (rows_good[k] + 1) for k in range(len(good_index))) / len(good_index)
        cmc_all, ap_sum, valid = cmc_all + cmc, ap_sum + ap, valid + 1
    return cmc_all / valid, ap_sum / valid


def _cal_distances(torch, qf, gf):
    """CAL's test.py: F.normalize, then distmat[i] = -torch.mm(qf[i:i+1], gf.t()) for each query."""
    qf = torch.nn.functional.normalize(torch.from_numpy(qf), p=2, dim=1)
    gf = torch.nn.functional.normalize(torch.from_numpy(gf), p=2, dim=1)
    distmat = torch.zeros((qf.size(0), gf.size(0)))
    for i in range(qf.size(0)):
        distmat[i] = -torch.mm(qf[i:i + 1], gf.t())
    return distmat.numpy()


def test_the_cal_tie_rule_reproduces_cals_numbers_on_tied_features():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    differ = 0
    for _ in range(6):
        q_pids, g_pids, q_cams, g_cams = _labels(rng, 40, 150, ids=10, cams=3)
        qf = np.sign(rng.normal(size=(40, 8))).astype(np.float32)  # sign-quantised: exact ties everywhere
        gf = np.sign(rng.normal(size=(150, 8))).astype(np.float32)
        cmc, m_ap = _cal_evaluate(_cal_distances(torch, qf, gf), q_pids, g_pids, q_cams, g_cams)
        cal = Scoring(ties="cal")
        m = evaluate_labels(cal.matrix(qf, gf), q_pids, g_pids, q_cams, g_cams, max_rank=20, ties=cal.sort)
        np.testing.assert_allclose(m.cmc, cmc[:20], atol=1e-12)
        assert m.mAP == pytest.approx(m_ap, abs=1e-12)
        stable = evaluate_labels(CosineDistance(qf, gf), q_pids, g_pids, q_cams, g_cams, max_rank=20)
        differ += not np.allclose(stable.cmc, m.cmc)
    assert differ > 0  # on tied features the rule matters, which is why it is a switch
    with pytest.raises(ProtocolError, match="cosine"):
        Scoring(distance="euclidean", ties="cal")


@pytest.fixture(scope="module")
def occluded_reid(tmp_path_factory):
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    root = build_occluded_reid(tmp_path_factory.mktemp("field"))
    ds = read_dataset(root)
    recs = evaluation_records(ds)
    pids = sorted({r.pid for r in recs})
    rng = np.random.default_rng(6)
    feats = np.eye(len(pids), 16, dtype=np.float32)[[pids.index(r.pid) for r in recs]]
    feats += 0.05 * rng.normal(size=feats.shape).astype(np.float32)
    path = root.parent / "f.npz"
    FeatureTable([r.relpath for r in recs], feats).save(path)
    return root, path


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_per_query_output(occluded_reid, tmp_path, suffix):
    root, feats = occluded_reid
    out, report = tmp_path / f"q{suffix}", tmp_path / "r.json"
    res = CliRunner().invoke(main, ["evaluate", str(root), "-f", str(feats), "--per-query", str(out), "--json",
                                    str(report), "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text()) if suffix == ".json" else list(csv.DictReader(out.open()))
    assert len(rows) == 10 and {r["query"] for r in rows} == {r.relpath for r in read_dataset(root).records
                                                            if r.split == "occluded_body_images"}
    for r in rows:
        assert float(r["rank1"]) == 1.0 and float(r["ap"]) == 1.0 and float(r["inp"]) == 1.0
        assert int(r["first_match_rank"]) == 1 and r["setting"] == "general"
    general = json.loads(report.read_text())["dataset"]["settings"]["general"]
    assert general["mINP"] == 100.0 and general["distance"] == "cosine" and general["ties"] == "gallery-order"


def test_cli_distance_and_rerank(occluded_reid, tmp_path):
    root, feats = occluded_reid
    for extra in (["--distance", "euclidean"], ["--rerank"], ["--distance", "euclidean", "--rerank"],
                  ["--ties", "cal"]):
        res = CliRunner().invoke(main, ["evaluate", str(root), "-f", str(feats), "--json", str(tmp_path / "r.json"),
                                        "--no-progress", *extra])
        assert res.exit_code == 0, res.output
        general = json.loads((tmp_path / "r.json").read_text())["dataset"]["settings"]["general"]
        assert general["rank1"] == 100.0 and general["rerank"] == ("--rerank" in extra)
    res = CliRunner().invoke(main, ["evaluate", str(root), "-f", str(feats), "--distance", "euclidean", "--ties", "cal",
                                    "--no-progress"])
    assert res.exit_code == 2 and "cosine" in res.output
    res = CliRunner().invoke(main, ["evaluate", str(root), "-f", str(feats), "--ties", "cal", "--cal-device",
                                    "nodevice:7", "--no-progress"])
    assert res.exit_code == 2 and "cannot compute CAL's distances on 'nodevice:7'" in " ".join(res.output.split())


def test_re_ranking_too_large_for_memory_is_one_sentence(occluded_reid, monkeypatch):
    from occreid.evaluation import rerank

    monkeypatch.setattr(rerank, "_available", lambda: 1000)  # as on a machine with 1 kB free
    root, feats = occluded_reid
    res = CliRunner().invoke(main, ["evaluate", str(root), "-f", str(feats), "--rerank", "--no-progress"])
    assert res.exit_code == 2 and "re-ranking 20 queries and gallery items needs about" in " ".join(res.output.split())
