"""CMC, mAP and mINP, vectorised, with the definitions of CAL, torchreid and fast-reid.

For each query the gallery is sorted by distance (ascending; ties: see below), the query's *junk*
items are removed from the ranking, and the remaining items are scored against the query's *good*
items (the correct matches):

- CMC: 1 at every rank from the first good item on (``CMC@k`` is the fraction of queries whose
  first good item is among the first ``k`` non-junk items);
- AP: the mean, over the good items, of the precision at the rank where each is found
  (``(number of good items so far) / rank``); mAP is the mean AP over queries;
- INP (Ye et al., TPAMI 2021, as fast-reid's ``evaluate_rank`` computes it): the number of good
  items divided by the rank of the last one (the precision at the hardest match); mINP is the mean.

A query with no good item is skipped: it is excluded from every average and counted in
``num_skipped``. This is CAL's ``compute_ap_cmc`` / ``evaluate`` / ``evaluate_with_clothes``,
computed for many queries at once instead of in a Python loop. ``CMC@k`` is defined for ``k``
beyond the gallery size (it is then 1 for every counted query) where CAL's array would be too short.

Ties in distance (``ties``): CAL (``tools/eval_metrics.py``), torchreid (``metrics/rank.py``) and
fast-reid (``evaluation/rank.py``) rank with ``np.argsort(distmat)``, NumPy's default introsort,
which is not stable: tied gallery items come out in whatever order the sort leaves them, which may
change with the NumPy version and the row's contents. The default, ``ties="gallery-order"``, is a
stable sort: among items at exactly the same distance (same float value), the earlier gallery item
(the dataset's records in sorted relative-path order) ranks first. This holds for the distances as
computed; two items whose exact distances tie may get float values one ulp apart, and then the
smaller value ranks first whatever the gallery order. ``ties="argsort"`` ranks with NumPy's default
argsort, as CAL does; with CAL's distances (``CosineDistance(..., backend="torch")``) it reproduces
CAL's numbers on tied features. The two agree whenever no good item ties with a non-junk wrong one
(real float features essentially never tie); :func:`tied_queries` counts the queries where such a
tie could change the result.

Work is done in blocks of queries so that a 10,000 x 10,000 evaluation never holds more than a few
tens of megabytes of temporary arrays. The distance matrix may be any object with ``shape`` and
row slicing (a NumPy array, a memmap, or a row-computed distance of :mod:`.distances`);
the good and junk masks may be boolean arrays or callables ``rows -> block``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .distances import CosineDistance, EuclideanDistance, l2_normalize  # noqa: F401  (re-exported)

#: The CMC ranks reported everywhere (CAL logs top-1/5/10/20).
RANKS: tuple[int, ...] = (1, 5, 10, 20)

#: Upper bound on elements per temporary (query-block x gallery) array.
_BLOCK_ELEMENTS = 2_000_000

MaskLike = np.ndarray | Callable[[slice], np.ndarray] | None

#: How tied distances are ordered (see the module docstring).
TIES = ("gallery-order", "argsort")


@dataclass(frozen=True, eq=False)
class Metrics:
    """The result of one evaluation.

    ``cmc[k-1]`` is CMC at rank ``k`` (a fraction in [0, 1]) for ``k`` up to ``len(cmc)``;
    ``mAP`` and ``mINP`` are fractions too. ``num_queries`` queries were given, ``num_valid`` had
    at least one correct match and were averaged, ``num_skipped = num_queries - num_valid`` were
    not. With no valid query every number is NaN. ``per_query`` (when asked for) holds, per query,
    ``first`` (0-based rank of the first correct match, -1 if none), ``ap`` and ``inp`` (NaN if none).
    """

    cmc: np.ndarray
    mAP: float
    num_queries: int
    num_valid: int
    num_gallery: int = 0
    extra: dict = field(default_factory=dict, compare=False)
    mINP: float = float("nan")
    #: ``evaluate(per_query=True)``: the per-query arrays; ``evaluate_setting``: one row (a dict) per query
    per_query: dict | list[dict] | None = field(default=None, compare=False, repr=False)

    @property
    def num_skipped(self) -> int:
        """Queries without a valid match, excluded from the averages."""
        return self.num_queries - self.num_valid

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based) as a fraction."""
        if k < 1 or k > len(self.cmc):
            raise ValueError(f"rank {k} is outside 1..{len(self.cmc)}")
        return float(self.cmc[k - 1])

    def as_dict(self, ranks: Sequence[int] = RANKS) -> dict:
        """Percentages (``rank1``, ``rank5``, ..., ``mAP``) and query counts, JSON-ready."""
        out = {f"rank{k}": _pct(self.rank(k)) for k in ranks}
        out["mAP"] = _pct(self.mAP)
        out["mINP"] = _pct(self.mINP)
        out.update(
            queries=self.num_queries, queries_used=self.num_valid, queries_skipped=self.num_skipped,
            gallery=self.num_gallery,
        )
        out.update(self.extra)
        return out


def _pct(x: float) -> float | None:
    return None if not np.isfinite(x) else round(100.0 * float(x), 4)


def _block(mask: MaskLike, rows: slice, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.zeros(shape, dtype=bool)
    block = mask(rows) if callable(mask) else mask[rows]
    block = np.asarray(block, dtype=bool)
    if block.shape != shape:
        raise ValueError(f"mask block has shape {block.shape}, expected {shape}")
    return block


def _order(dist: np.ndarray, ties: str) -> np.ndarray:
    if ties == "gallery-order":
        return np.argsort(dist, axis=1, kind="stable")
    if ties == "argsort":  # row by row, exactly CAL's ``np.argsort(distmat[i])``
        return np.stack([np.argsort(row) for row in dist]) if len(dist) else np.argsort(dist, axis=1)
    raise ValueError(f"unknown tie rule {ties!r}; expected one of {', '.join(TIES)}")


def query_scores(dist: np.ndarray, good: np.ndarray, junk: np.ndarray,
                 ties: str = "gallery-order") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query: the 0-based rank of the first good item after junk removal, the AP and the INP.

    ``dist``, ``good`` and ``junk`` are (q, G) blocks. An item both good and junk counts as junk.
    Queries without a good item get rank ``-1``, AP and INP NaN.
    """
    dist = np.asarray(dist)
    num_q, num_g = dist.shape
    if num_g == 0:
        return np.full(num_q, -1, dtype=np.int64), np.full(num_q, np.nan), np.full(num_q, np.nan)
    order = _order(dist, ties)
    keep = ~np.take_along_axis(junk, order, axis=1)
    hits = np.take_along_axis(good, order, axis=1) & keep
    kept_rank = np.cumsum(keep, axis=1, dtype=np.int64)  # 1-based rank among non-junk items
    n_hits = np.cumsum(hits, axis=1, dtype=np.int64)
    n_good = n_hits[:, -1]
    valid = n_good > 0
    precision_sum = np.where(hits, n_hits / np.maximum(kept_rank, 1), 0.0).sum(axis=1)
    ap = np.full(num_q, np.nan)
    ap[valid] = precision_sum[valid] / n_good[valid]
    first_col = np.argmax(hits, axis=1)  # first hit in the sorted order
    first_rank = np.take_along_axis(kept_rank, first_col[:, None], axis=1)[:, 0] - 1
    first_rank = np.where(valid, first_rank, -1)
    last_col = num_g - 1 - np.argmax(hits[:, ::-1], axis=1)  # last hit in the sorted order
    last_rank = np.take_along_axis(kept_rank, last_col[:, None], axis=1)[:, 0]
    inp = np.full(num_q, np.nan)
    inp[valid] = n_good[valid] / last_rank[valid]
    return first_rank, ap, inp


def rank_queries(dist: np.ndarray, good: np.ndarray, junk: np.ndarray,
                 ties: str = "gallery-order") -> tuple[np.ndarray, np.ndarray]:
    """Per query: the 0-based rank of the first good item and the AP (:func:`query_scores` without INP)."""
    first, ap, _ = query_scores(dist, good, junk, ties)
    return first, ap


def evaluate(
    distmat,
    good: MaskLike,
    junk: MaskLike = None,
    max_rank: int = 20,
    block_rows: int | None = None,
    ties: str = "gallery-order",
    per_query: bool = False,
) -> Metrics:
    """CMC (ranks 1..``max_rank``), mAP and mINP of a query x gallery distance matrix.

    ``good[i, j]`` says gallery item ``j`` is a correct match for query ``i``; ``junk[i, j]`` says
    it is removed from query ``i``'s ranking (``None``: nothing is junk). Masks are (Q, G) boolean
    arrays or callables returning the rows of a slice. Smaller distance ranks first; ``ties`` says
    how exactly tied distances are ordered (module docstring). With ``per_query`` the result keeps
    each query's first-match rank, AP and INP.

    Example:
        >>> d = np.array([[0.1, 0.2, 0.3]])
        >>> m = evaluate(d, good=np.array([[False, True, False]]))
        >>> round(m.rank(1), 2), round(m.rank(2), 2), round(m.mAP, 2), round(m.mINP, 2)
        (0.0, 1.0, 0.5, 0.5)
    """
    num_q, num_g = distmat.shape
    if max_rank < 1:
        raise ValueError("max_rank must be at least 1")
    if ties not in TIES:
        raise ValueError(f"unknown tie rule {ties!r}; expected one of {', '.join(TIES)}")
    if block_rows is None:
        block_rows = max(1, _BLOCK_ELEMENTS // max(num_g, 1))
    hist = np.zeros(max_rank, dtype=np.int64)  # queries whose first good item is at rank r
    ap_sum = inp_sum = 0.0
    num_valid = 0
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, num_q, block_rows):
        rows = slice(start, min(start + block_rows, num_q))
        shape = (rows.stop - rows.start, num_g)
        dist = np.asarray(distmat[rows])
        if dist.shape != shape:
            raise ValueError(f"distance block has shape {dist.shape}, expected {shape}")
        first, ap, inp = query_scores(dist, _block(good, rows, shape), _block(junk, rows, shape), ties)
        valid = first >= 0
        num_valid += int(valid.sum())
        ap_sum += float(ap[valid].sum())
        inp_sum += float(inp[valid].sum())
        hist += np.bincount(first[valid & (first < max_rank)], minlength=max_rank)[:max_rank]
        if per_query:
            kept.append((first, ap, inp))
    details = None
    if per_query:
        cat = [np.concatenate([k[i] for k in kept]) if kept else np.zeros(0) for i in range(3)]
        details = {"first": cat[0].astype(np.int64), "ap": cat[1], "inp": cat[2]}
    if num_valid == 0:
        return Metrics(np.full(max_rank, np.nan), float("nan"), num_q, 0, num_g, per_query=details)
    cmc = np.cumsum(hist) / num_valid
    return Metrics(cmc, ap_sum / num_valid, num_q, num_valid, num_g, mINP=inp_sum / num_valid, per_query=details)


def tied_queries(distmat, good: np.ndarray, junk: np.ndarray | None = None) -> int:
    """Queries where a good item has exactly the distance of a wrong non-junk item (ranks then depend on ties).

    ``distmat``, ``good`` and ``junk`` are (Q, G) arrays. Such a query's AP and CMC depend on the tie
    rule: gallery order decides with the stable sort, whatever NumPy's introsort leaves with
    ``ties="argsort"`` (CAL, torchreid, fast-reid).
    """
    dist = np.asarray(distmat)
    good = np.asarray(good, dtype=bool)
    junk = np.zeros_like(good) if junk is None else np.asarray(junk, dtype=bool)
    wrong = ~good & ~junk
    count = 0
    for d, g, w in zip(dist, good & ~junk, wrong):
        count += bool(np.intersect1d(d[g], d[w]).size)
    return count


# --- good / junk rules from labels ------------------------------------------------------------

#: The rules a protocol may use, as in CAL's ``evaluate`` (``general``) and
#: ``evaluate_with_clothes`` (``cloth-changing``: mode CC, ``same-clothes``: mode SC).
RULES = ("general", "cloth-changing", "same-clothes")


def label_masks(
    q_pids, g_pids, q_cams, g_cams, q_clothes=None, g_clothes=None, rule: str = "general"
) -> tuple[Callable[[slice], np.ndarray], Callable[[slice], np.ndarray]]:
    """The (good, junk) mask callables of a rule, computed block by block from labels.

    - ``general``: good = same pid and other camera; junk = same pid and same camera.
    - ``cloth-changing``: good = same pid, other camera, other clothes; junk = same pid and
      (same camera or same clothes).
    - ``same-clothes``: good = same pid, other camera, same clothes; junk = same pid and
      (same camera or other clothes).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_cams, g_cams = np.asarray(q_cams), np.asarray(g_cams)
    if rule != "general":
        if q_clothes is None or g_clothes is None:
            raise ValueError(f"the {rule} rule needs clothes labels")
        q_clothes, g_clothes = np.asarray(q_clothes), np.asarray(g_clothes)

    def parts(rows: slice):
        same_pid = q_pids[rows, None] == g_pids[None, :]
        same_cam = q_cams[rows, None] == g_cams[None, :]
        same_clo = None if rule == "general" else q_clothes[rows, None] == g_clothes[None, :]
        return same_pid, same_cam, same_clo

    def good(rows: slice) -> np.ndarray:
        same_pid, same_cam, same_clo = parts(rows)
        g = same_pid & ~same_cam
        if rule == "cloth-changing":
            g &= ~same_clo
        elif rule == "same-clothes":
            g &= same_clo
        return g

    def junk(rows: slice) -> np.ndarray:
        same_pid, same_cam, same_clo = parts(rows)
        if rule == "general":
            return same_pid & same_cam
        if rule == "cloth-changing":
            return same_pid & (same_cam | same_clo)
        return same_pid & (same_cam | ~same_clo)

    return good, junk


def evaluate_labels(
    distmat, q_pids, g_pids, q_cams, g_cams, q_clothes=None, g_clothes=None,
    rule: str = "general", max_rank: int = 20, ties: str = "gallery-order", per_query: bool = False,
) -> Metrics:
    """:func:`evaluate` with the good/junk masks of ``rule`` (see :func:`label_masks`)."""
    good, junk = label_masks(q_pids, g_pids, q_cams, g_cams, q_clothes, g_clothes, rule)
    return evaluate(distmat, good, junk, max_rank=max_rank, ties=ties, per_query=per_query)


def average(results: Sequence[Metrics]) -> Metrics:
    """The mean of several evaluations (single-shot repeats): CMC, mAP and mINP averaged, counts from the first.

    NaN results (no valid query) are ignored; if all are NaN the average is NaN.
    """
    if not results:
        raise ValueError("nothing to average")
    ok = [r for r in results if r.num_valid > 0]
    first = results[0]
    if not ok:
        return Metrics(first.cmc.copy(), float("nan"), first.num_queries, 0, first.num_gallery)
    cmc = np.mean([r.cmc for r in ok], axis=0)
    m_ap = float(np.mean([r.mAP for r in ok]))
    m_inp = float(np.mean([r.mINP for r in ok]))
    valid = [r.num_valid for r in ok]
    return Metrics(cmc, m_ap, first.num_queries, int(round(np.mean(valid))), first.num_gallery, mINP=m_inp)
