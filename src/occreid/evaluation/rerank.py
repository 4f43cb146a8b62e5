"""k-reciprocal re-ranking (Zhong, Zheng, Cao, Li: "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017), as torchreid (``torchreid.utils.re_ranking``) and fast-reid
(``fastreid/evaluation/rerank.py``) offer it from the authors' code.

Given query-gallery, query-query and gallery-gallery distances, each item's k-reciprocal
neighbours (``k1``) are expanded by those of its neighbours that share more than two thirds of
their own (``k1 / 2``)-reciprocal set, weighted by ``exp(-distance)``, averaged over the ``k2``
nearest neighbours (local query expansion), and compared by a Jaccard distance; the final distance
is ``(1 - lambda) * jaccard + lambda * original`` where ``original`` is the squared input distance
divided by its column maximum. Defaults are the paper's and the libraries': ``k1=20, k2=6,
lambda=0.3``. Neighbour lists use NumPy's default argsort, as the reference code does, so the
same inputs give the same ranking.

Memory: the method works on the (Q+G) x (Q+G) matrices, as the reference does: about 20 bytes
per pair at its peak, 28 with the float64 input distances (measured with tracemalloc; Market-1501's
19,732 test images: about 11 GB). :func:`check_memory` refuses, in one sentence, a size that does
not fit the memory available, instead of a MemoryError.
"""

from __future__ import annotations

import os

import numpy as np

#: Peak bytes per (Q+G)^2 pair: the method's arrays and the float64 input distances.
BYTES_PER_PAIR = 28


def _available() -> int | None:
    """Memory available to allocate now (Linux MemAvailable), None where it cannot be told."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(num_items: int) -> None:
    """ValueError (one sentence) when re-ranking ``num_items`` queries + gallery items would not fit in memory."""
    need, have = BYTES_PER_PAIR * num_items * num_items, _available()
    if have is not None and need > have:
        raise ValueError(f"re-ranking {num_items:,} queries and gallery items needs about {need / 1e9:.1f} GB of "
                         f"memory, more than the {have / 1e9:.1f} GB available; evaluate without --rerank")


def _reciprocal(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Items among i's k+1 nearest that have i among their own k+1 nearest (in i's order)."""
    forward = rank[i, :k + 1]
    return forward[(rank[forward, :k + 1] == i).any(axis=1)]


def re_ranking(q_g_dist: np.ndarray, q_q_dist: np.ndarray, g_g_dist: np.ndarray, k1: int = 20, k2: int = 6,
               lambda_value: float = 0.3) -> np.ndarray:
    """The re-ranked (Q, G) distance matrix (float32) of Zhong et al. 2017.

    ``q_g_dist`` (Q, G), ``q_q_dist`` (Q, Q), ``g_g_dist`` (G, G) are distances of one metric
    (torchreid squares them, so pass non-negative ones: squared Euclidean or ``1 - cosine``).
    """
    q_g = np.asarray(q_g_dist)
    num_q, num_g = q_g.shape
    if np.shape(q_q_dist) != (num_q, num_q) or np.shape(g_g_dist) != (num_g, num_g):
        raise ValueError(f"re-ranking needs (Q,Q) and (G,G) distances for a {q_g.shape} query x gallery matrix")
    if k1 < 1 or k2 < 1 or not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"re-ranking needs k1, k2 >= 1 and 0 <= lambda <= 1 (got {k1}, {k2}, {lambda_value})")
    check_memory(num_q + num_g)
    full = np.block([[np.asarray(q_q_dist), q_g], [q_g.T, np.asarray(g_g_dist)]])
    full = np.power(full, 2).astype(np.float32)
    dist = np.transpose(full / np.max(full, axis=0))
    del full
    n = dist.shape[0]
    rank = np.argsort(dist).astype(np.int32)
    half = int(np.around(k1 / 2.0))
    v = np.zeros_like(dist, dtype=np.float32)
    for i in range(n):
        recip = _reciprocal(rank, i, k1)
        expanded = recip
        for c in recip:
            cand = _reciprocal(rank, int(c), half)
            if len(np.intersect1d(cand, recip)) > 2.0 / 3 * len(cand):
                expanded = np.append(expanded, cand)
        expanded = np.unique(expanded)
        weight = np.exp(-dist[i, expanded])
        v[i, expanded] = weight / np.sum(weight)
    dist = dist[:num_q]
    if k2 != 1:
        v_qe = np.zeros_like(v, dtype=np.float32)
        for i in range(n):
            v_qe[i] = np.mean(v[rank[i, :k2]], axis=0)
        v = v_qe
    del rank
    jaccard = np.zeros_like(dist, dtype=np.float32)
    for i in range(num_q):
        shared = np.zeros(n, dtype=np.float32)
        for k in np.flatnonzero(v[i]):  # sum of min(v[i, k], v[j, k]) over the words i holds, in order
            col = v[:, k]
            rows = np.flatnonzero(col)
            shared[rows] = shared[rows] + np.minimum(v[i, k], col[rows])
        jaccard[i] = 1 - shared / (2.0 - shared)
    final = jaccard * (1 - lambda_value) + dist * lambda_value
    return final[:, num_q:]
