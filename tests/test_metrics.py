"""CMC and mAP: hand-computed cases, a loop reference of the definitions, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from occreid.evaluation.metrics import (
    CosineDistance,
    Metrics,
    average,
    evaluate,
    evaluate_labels,
    l2_normalize,
    label_masks,
    rank_queries,
)

# --- a reference written from the definitions, one query at a time --------------------------------


def reference(dist, good, junk, max_rank=20):
    """Per query: sort by distance, drop junk, AP = mean precision at each good item, CMC from the first."""
    cmc = np.zeros(max_rank)
    aps, skipped = [], 0
    for d, g, j in zip(dist, good, junk):
        ranked = [i for i in sorted(range(len(d)), key=lambda i: (d[i], i)) if not j[i]]
        hits = [pos for pos, i in enumerate(ranked, start=1) if g[i]]
        if not hits:
            skipped += 1
            continue
        aps.append(sum(n / pos for n, pos in enumerate(hits, start=1)) / len(hits))
        cmc[hits[0] - 1:] += 1
    n = len(aps)
    return (cmc / n if n else np.full(max_rank, np.nan)), (float(np.mean(aps)) if n else float("nan")), skipped


def reference_rules(q, g, rule):
    """The good / junk sets of docs/datasets.md ("Evaluation settings"), spelled out per (query, gallery) pair."""
    good = np.zeros((len(q), len(g)), bool)
    junk = np.zeros((len(q), len(g)), bool)
    for a, (qp, qc, qk) in enumerate(q):
        for b, (gp, gc, gk) in enumerate(g):
            if qp != gp:
                continue
            if rule == "general":
                good[a, b], junk[a, b] = qc != gc, qc == gc
            elif rule == "cloth-changing":
                good[a, b], junk[a, b] = qc != gc and qk != gk, qc == gc or qk == gk
            else:
                good[a, b], junk[a, b] = qc != gc and qk == gk, qc == gc or qk != gk
    return good, junk


RULE_CHOICE = st.sampled_from(["general", "cloth-changing", "same-clothes"])

# --- hand-computed cases ------------------------------------------------------------------------

DIST = np.array([
    [0.1, 0.5, 0.3, 0.9, 0.2],  # order: 0 4 2 1 3
    [0.4, 0.1, 0.8, 0.3, 0.2],  # order: 1 4 3 0 2
])
G_PIDS = np.array([1, 1, 2, 1, 3])
GOOD = np.array([G_PIDS == 1, G_PIDS == 2])


def test_two_queries_by_hand():
    # query 0: good items at ranks 1, 4, 5 -> AP = (1/1 + 2/4 + 3/5) / 3 = 0.7, first hit at rank 1
    # query 1: its only good item is last, rank 5 -> AP = 1/5, first hit at rank 5
    m = evaluate(DIST, GOOD, max_rank=6)
    assert m.mAP == pytest.approx((0.7 + 0.2) / 2)
    assert m.cmc.tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    assert (m.num_queries, m.num_valid, m.num_skipped, m.num_gallery) == (2, 2, 0, 5)
    first, ap = rank_queries(DIST, GOOD, np.zeros_like(GOOD))
    assert first.tolist() == [0, 4]
    assert ap.tolist() == pytest.approx([0.7, 0.2])


def test_junk_is_removed_from_the_ranking():
    # query 1 with items 1 and 4 junk: ranking 3 0 2, its good item is now at rank 3 -> AP 1/3
    junk = np.zeros_like(GOOD)
    junk[1, [1, 4]] = True
    m = evaluate(DIST, GOOD, junk, max_rank=5)
    assert m.mAP == pytest.approx((0.7 + 1 / 3) / 2)
    assert m.cmc.tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0, 1.0])
    # junk in front of query 0's good items shifts nothing it does not precede
    junk0 = np.zeros_like(GOOD)
    junk0[0, 4] = True  # rank 2 removed: good items now at 1, 3, 4 -> (1 + 2/3 + 3/4) / 3
    assert evaluate(DIST[:1], GOOD[:1], junk0[:1]).mAP == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_queries_without_a_good_match_are_skipped_and_counted():
    dist = np.vstack([DIST, [0.3, 0.2, 0.1, 0.5, 0.4]])
    good = np.vstack([GOOD, np.zeros(5, bool)])
    m = evaluate(dist, good, max_rank=6)
    assert (m.num_queries, m.num_valid, m.num_skipped) == (3, 2, 1)
    assert m.mAP == pytest.approx(0.45)
    assert m.rank(1) == pytest.approx(0.5)
    # a query whose only matches are junk is skipped too
    junk = np.zeros_like(GOOD)
    junk[1, 2] = True
    assert evaluate(DIST, GOOD, junk).num_skipped == 1


def test_no_valid_query_gives_nan_and_counts():
    m = evaluate(DIST, np.zeros_like(GOOD))
    assert m.num_valid == 0 and m.num_skipped == 2
    assert np.isnan(m.mAP) and np.isnan(m.cmc).all()
    assert m.as_dict()["rank1"] is None and m.as_dict()["queries_skipped"] == 2


def test_cmc_beyond_the_gallery_size_is_one():
    m = evaluate(DIST, GOOD, max_rank=20)
    assert m.rank(20) == 1.0 and m.rank(10) == 1.0
    with pytest.raises(ValueError):
        m.rank(21)


def test_label_rules_on_a_small_ltcc_like_case():
    # query: pid 7, camera 0, clothes "a". Gallery: pid/camera/clothes per item.
    g = [(7, 0, "a"), (7, 1, "a"), (7, 1, "b"), (7, 0, "b"), (8, 1, "a")]
    dist = np.array([[0.0, 0.1, 0.2, 0.3, 0.05]])
    args = ([7], [p for p, _, _ in g], [0], [c for _, c, _ in g], ["a"], [k for _, _, k in g])
    # general: good = items 1, 2 (other camera); junk = 0, 3 -> ranking 4, 1, 2 -> hits at 2, 3
    m = evaluate_labels(dist, *args, rule="general")
    assert m.mAP == pytest.approx((1 / 2 + 2 / 3) / 2) and m.rank(1) == 0 and m.rank(2) == 1
    # cloth-changing: good = item 2 only; junk = 0, 1, 3 -> ranking 4, 2 -> hit at 2
    assert evaluate_labels(dist, *args, rule="cloth-changing").mAP == pytest.approx(1 / 2)
    # same-clothes: good = item 1 only; junk = 0, 2, 3 -> ranking 4, 1 -> hit at 2
    assert evaluate_labels(dist, *args, rule="same-clothes").mAP == pytest.approx(1 / 2)
    with pytest.raises(ValueError):
        label_masks([7], [7], [0], [0], rule="same-clothes")  # needs clothes
    with pytest.raises(ValueError):
        label_masks([7], [7], [0], [0], rule="bogus")


def test_cosine_distance_rows_and_blocks():
    rng = np.random.default_rng(0)
    qf, gf = rng.normal(size=(7, 5)), rng.normal(size=(11, 5))
    d = CosineDistance(qf, gf)
    full = -(l2_normalize(qf) @ l2_normalize(gf).T)
    assert d.shape == (7, 11)
    np.testing.assert_allclose(d[2:5], full[2:5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(d), full, rtol=1e-5, atol=1e-6)
    good = rng.random((7, 11)) < 0.3
    a = evaluate(d, good, block_rows=2)
    b = evaluate(full, good)
    assert a.mAP == pytest.approx(b.mAP) and np.allclose(a.cmc, b.cmc)


def test_average_of_repeats():
    a = Metrics(np.array([0.5, 1.0]), 0.4, 4, 4, 3)
    b = Metrics(np.array([1.0, 1.0]), 0.8, 4, 4, 3)
    m = average([a, b])
    assert m.mAP == pytest.approx(0.6) and m.cmc.tolist() == [0.75, 1.0] and m.num_valid == 4


def test_large_evaluation_is_blockwise():
    rng = np.random.default_rng(1)
    q, g = 300, 2000
    pids_q, pids_g = rng.integers(0, 50, q), rng.integers(0, 50, g)
    feats = rng.normal(size=(50, 16))
    qf = feats[pids_q] + 0.5 * rng.normal(size=(q, 16))
    gf = feats[pids_g] + 0.5 * rng.normal(size=(g, 16))
    cams_q, cams_g = rng.integers(0, 4, q), rng.integers(0, 4, g)
    small = evaluate_labels(CosineDistance(qf, gf), pids_q, pids_g, cams_q, cams_g)
    dist = np.asarray(CosineDistance(qf, gf))
    good, junk = label_masks(pids_q, pids_g, cams_q, cams_g)
    ref_cmc, ref_map, skipped = reference(dist, good(slice(None)), junk(slice(None)))
    assert small.mAP == pytest.approx(ref_map) and np.allclose(small.cmc, ref_cmc)
    assert small.num_skipped == skipped


# --- properties ---------------------------------------------------------------------------------

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, max_q=6, max_g=12):
    """A distance matrix with distinct values and random good / junk masks (disjoint)."""
    q = draw(st.integers(1, max_q))
    g = draw(st.integers(1, max_g))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    dist = rng.permutation(q * g).reshape(q, g).astype(float) / (q * g)  # distinct distances
    good = rng.random((q, g)) < draw(st.floats(0.05, 0.6))
    junk = (rng.random((q, g)) < draw(st.floats(0.0, 0.4))) & ~good
    return dist, good, junk


@FAST
@given(problems())
def test_matches_the_reference(problem):
    dist, good, junk = problem
    m = evaluate(dist, good, junk, max_rank=15, block_rows=2)
    ref_cmc, ref_map, skipped = reference(dist, good, junk, max_rank=15)
    assert m.num_skipped == skipped
    if m.num_valid:
        assert m.mAP == pytest.approx(ref_map) and np.allclose(m.cmc, ref_cmc)
    else:
        assert np.isnan(m.mAP) and np.isnan(ref_map)


@FAST
@given(problems(), st.randoms(use_true_random=False))
def test_invariant_to_gallery_permutation(problem, rnd):
    dist, good, junk = problem
    perm = list(range(dist.shape[1]))
    rnd.shuffle(perm)
    a = evaluate(dist, good, junk)
    b = evaluate(dist[:, perm], good[:, perm], junk[:, perm])
    assert a.num_valid == b.num_valid
    if a.num_valid:
        assert a.mAP == pytest.approx(b.mAP) and np.allclose(a.cmc, b.cmc)


@FAST
@given(problems())
def test_invariant_to_monotone_distance_maps_and_junk_placement(problem):
    dist, good, junk = problem
    a = evaluate(dist, good, junk)
    b = evaluate(np.exp(3 * dist) - 7, good, junk)  # strictly increasing map
    moved = np.where(junk, -dist, dist)  # junk items moved anywhere: they are removed anyway
    c = evaluate(moved, good, junk)
    for other in (b, c):
        assert other.num_valid == a.num_valid
        if a.num_valid:
            assert other.mAP == pytest.approx(a.mAP) and np.allclose(other.cmc, a.cmc)


@FAST
@given(problems())
def test_ranges_and_monotonicity(problem):
    dist, good, junk = problem
    m = evaluate(dist, good, junk, max_rank=20)
    if not m.num_valid:
        return
    assert 0.0 < m.mAP <= 1.0 + 1e-12
    assert np.all(np.diff(m.cmc) >= 0) and 0.0 <= m.cmc[0] and m.cmc[-1] <= 1.0
    assert m.rank(20) == 1.0  # galleries here hold at most 12 items
    # the mean AP is 1 exactly when every query ranks all its good items first, so rank-1 is then 1
    if m.mAP == pytest.approx(1.0):
        assert m.rank(1) == 1.0


@FAST
@given(problems())
def test_one_good_item_per_query_gives_mean_reciprocal_rank(problem):
    dist, good, junk = problem
    q, g = dist.shape
    only = np.zeros_like(good)
    only[np.arange(q), np.argmax(dist, axis=1)] = True  # each query's single match is its farthest item
    junk = junk & ~only
    first, ap = rank_queries(dist, only, junk)
    np.testing.assert_allclose(ap, 1.0 / (first + 1))
    m = evaluate(dist, only, junk)
    assert m.mAP >= m.rank(1) - 1e-12  # 1/r >= [r == 1]


@FAST
@given(st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**32 - 1), RULE_CHOICE)
def test_perfect_features_score_100(n_ids, per_id, seed, rule):
    rng = np.random.default_rng(seed)
    q_pids = np.repeat(np.arange(n_ids), per_id)
    g_pids = np.repeat(np.arange(n_ids), per_id + 1)
    q_cams, g_cams = rng.integers(0, 3, len(q_pids)), rng.integers(0, 3, len(g_pids))
    q_clo, g_clo = rng.integers(0, 2, len(q_pids)), rng.integers(0, 2, len(g_pids))
    eye = np.eye(n_ids)
    m = evaluate_labels(CosineDistance(eye[q_pids], eye[g_pids]), q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, rule)
    if m.num_valid:
        assert m.mAP == pytest.approx(1.0) and np.allclose(m.cmc, 1.0)


@FAST
@given(st.integers(1, 5), st.integers(1, 9), st.integers(0, 2**32 - 1), RULE_CHOICE)
def test_label_masks_follow_the_protocol_table(nq, ng, seed, rule):
    rng = np.random.default_rng(seed)
    q = [(int(rng.integers(0, 3)), int(rng.integers(0, 3)), int(rng.integers(0, 2))) for _ in range(nq)]
    g = [(int(rng.integers(0, 3)), int(rng.integers(0, 3)), int(rng.integers(0, 2))) for _ in range(ng)]
    col = lambda rows, i: [r[i] for r in rows]  # noqa: E731
    good, junk = label_masks(col(q, 0), col(g, 0), col(q, 1), col(g, 1), col(q, 2), col(g, 2), rule)
    want_good, want_junk = reference_rules(q, g, rule)
    assert (good(slice(None)) == want_good).all() and (junk(slice(None)) == want_junk).all()


def test_ties_are_broken_by_gallery_order_and_counted():
    from occreid.evaluation.metrics import tied_queries

    # the good item (1) ties with a wrong one (0): gallery order puts the wrong one first
    dist = np.array([[0.5, 0.5, 0.9]])
    good = np.array([[False, True, False]])
    m = evaluate(dist, good, max_rank=3)
    assert m.cmc.tolist() == [0.0, 1.0, 1.0] and m.mAP == pytest.approx(0.5)
    swapped = evaluate(dist[:, [1, 0, 2]], good[:, [1, 0, 2]], max_rank=3)
    assert swapped.cmc.tolist() == [1.0, 1.0, 1.0] and swapped.mAP == pytest.approx(1.0)
    assert tied_queries(dist, good) == 1
    assert tied_queries(dist, good, junk=np.array([[True, False, False]])) == 0  # a junk tie changes nothing
    assert tied_queries(np.array([[0.1, 0.5, 0.9]]), good) == 0
