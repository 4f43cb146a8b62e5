"""A cell's figures: rank-1 and mAP exactly as ``occreid evaluate`` computes them
(``evaluation.protocols.evaluate_setting``), and mINP, computed here.

mINP (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021;
fast-reid's ``evaluate_rank``): for each query, after the setting's junk items are removed from
its ranking, INP = (number of correct matches) / (rank of the last correct match, 1-based); mINP
is the mean over the queries that have a correct match (the others are skipped, as for mAP). It
says how far down the list the hardest correct match lies, so it punishes a model that finds the
easy matches of an occluded person but loses the others. The ranking is the same stable sort as
``evaluation.metrics`` (ties keep gallery order).
"""

from __future__ import annotations

import numpy as np

from ..evaluation.metrics import CosineDistance, label_masks
from ..evaluation.protocols import FeatureTable, ProtocolError, Setting, evaluate_setting
from ..evaluation.protocols import _cameras as setting_cameras
from ..evaluation.protocols import _items as setting_items

#: The figures the bench reports per setting, in percent.
METRICS = ("rank1", "mAP", "mINP")
_BLOCK_ELEMENTS = 2_000_000


def inp_per_query(dist: np.ndarray, good: np.ndarray, junk: np.ndarray) -> np.ndarray:
    """INP of each query of a (q, G) block: correct matches / 1-based rank of the last one among
    non-junk items; NaN for a query without a correct match. An item both good and junk is junk."""
    dist = np.asarray(dist)
    num_q, num_g = dist.shape
    if num_g == 0:
        return np.full(num_q, np.nan)
    order = np.argsort(dist, axis=1, kind="stable")
    keep = ~np.take_along_axis(np.asarray(junk, bool), order, axis=1)
    hits = np.take_along_axis(np.asarray(good, bool), order, axis=1) & keep
    kept_rank = np.cumsum(keep, axis=1, dtype=np.int64)
    n_good = hits.sum(axis=1)
    last_col = num_g - 1 - np.argmax(hits[:, ::-1], axis=1)
    last_rank = np.take_along_axis(kept_rank, last_col[:, None], axis=1)[:, 0]
    out = np.full(num_q, np.nan)
    valid = n_good > 0
    out[valid] = n_good[valid] / last_rank[valid]
    return out


def minp(distmat, good, junk) -> float:
    """mINP (a fraction) of a query x gallery distance matrix with mask callables or arrays."""
    num_q, num_g = distmat.shape
    rows_per_block = max(1, _BLOCK_ELEMENTS // max(num_g, 1))
    values = []
    for start in range(0, num_q, rows_per_block):
        rows = slice(start, min(start + rows_per_block, num_q))
        g = good(rows) if callable(good) else np.asarray(good)[rows]
        j = junk(rows) if callable(junk) else np.asarray(junk)[rows]
        values.append(inp_per_query(np.asarray(distmat[rows]), g, j))
    inp = np.concatenate(values) if values else np.zeros(0)
    inp = inp[np.isfinite(inp)]
    return float(inp.mean()) if inp.size else float("nan")


def setting_minp(setting: Setting, features: FeatureTable) -> float:
    """mINP of a multi-shot setting, with the labels, cameras and tracklets ``evaluate`` uses."""
    qf, query, gf, gallery = setting_items(setting, features)
    q_cam, g_cam = setting_cameras(setting, query, gallery)
    if setting.rule != "general" and any(r.clothes is None for r in query + gallery):
        raise ProtocolError(f"the {setting.rule} setting needs clothes labels on every image")
    codes = {c: i for i, c in enumerate(sorted({str(r.clothes) for r in query + gallery}))}
    good, junk = label_masks(
        np.array([r.pid for r in query]), np.array([r.pid for r in gallery]), q_cam, g_cam,
        np.array([codes[str(r.clothes)] for r in query]), np.array([codes[str(r.clothes)] for r in gallery]),
        setting.rule)
    return minp(CosineDistance(qf, gf), good, junk)


def _pct(x: float) -> float | None:
    return None if not np.isfinite(x) else round(100.0 * float(x), 4)


def score(settings: list[Setting], features: FeatureTable) -> dict[str, dict]:
    """Per setting key: rank1, mAP, mINP (percent, None when no query has a match), queries used."""
    out = {}
    for s in settings:
        m = evaluate_setting(s, features)
        out[s.key] = {"rank1": _pct(m.rank(1)), "mAP": _pct(m.mAP), "mINP": _pct(setting_minp(s, features)),
                      "queries_used": m.num_valid}
    return out
