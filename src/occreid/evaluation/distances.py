"""Query x gallery distances, computed by rows: cosine (CAL's) and squared Euclidean (torchreid's and fast-reid's).

Each class behaves like the (Q, G) distance matrix for ``shape`` and row slicing, computing only
the rows asked for, so that large evaluations never materialise the whole matrix.

- :class:`CosineDistance`: negative cosine similarity of L2-normalised features, computed with
  NumPy (``-(q @ g.T)``). CAL's ``test.py`` computes the same quantity with ``-torch.mm`` after
  ``F.normalize``; fast-reid's ``1 - torch.mm`` ranks the same way. ``backend="torch"`` computes
  it exactly as CAL does (``F.normalize``, then ``-torch.mm(qf[i:i+1], gf.t())`` row by row, float32,
  on the CPU): NumPy's BLAS and torch's differ by up to one ulp, which is enough to split a
  mathematically exact tie the other way, so reproducing CAL's numbers on tied features needs
  CAL's arithmetic (see :mod:`.metrics` on ties).
- :class:`EuclideanDistance`: squared Euclidean distance of the features as they are
  (``|q|^2 + |g|^2 - 2 q.g``), torchreid's ``compute_distance_matrix(..., "euclidean")`` and
  fast-reid's ``compute_euclidean_distance``; torchreid's engine does not normalise features by
  default (``normalize_feature=False``), nor does this class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The distances ``occreid evaluate --distance`` offers.
DISTANCES = ("cosine", "euclidean")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (all-zero rows stay zero), as ``F.normalize`` does."""
    x = np.asarray(x)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


def _pair(query_features, gallery_features) -> tuple[np.ndarray, np.ndarray]:
    qf = np.asarray(query_features, dtype=np.float32)
    gf = np.asarray(gallery_features, dtype=np.float32)
    if qf.ndim != 2 or gf.ndim != 2 or qf.shape[1] != gf.shape[1]:
        raise ValueError(f"feature shapes {qf.shape} and {gf.shape} do not form a query x gallery pair")
    return qf, gf


class _Rows:
    shape: tuple[int, int]

    def __getitem__(self, rows) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


class CosineDistance(_Rows):
    """Negative cosine similarity between L2-normalised query and gallery features, by rows.

    ``backend="numpy"`` (the default) or ``"torch"`` (CAL's arithmetic: ``F.normalize`` and
    ``-torch.mm`` one query row at a time; needs PyTorch) on ``device`` (CAL runs it on its GPU:
    ``cuda``; cuBLAS and the CPU's BLAS may round differently, so use the device CAL ran on).
    """

    def __init__(self, query_features: np.ndarray, gallery_features: np.ndarray, backend: str = "numpy",
                 device: str = "cpu"):
        qf, gf = _pair(query_features, gallery_features)
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be numpy or torch, not {backend!r}")
        self.backend = backend
        self.shape = (qf.shape[0], gf.shape[0])
        self.qf: Any  # NumPy arrays, or torch tensors on ``device`` (backend "torch")
        self.gf: Any
        if backend == "torch":
            try:
                import torch
                import torch.nn.functional as F
            except ImportError as e:
                raise ValueError("CAL's tie path computes distances with PyTorch: pip install torch") from e
            self._torch = torch
            try:
                self.qf = F.normalize(torch.from_numpy(qf).to(device), p=2, dim=1)
                self.gf = F.normalize(torch.from_numpy(gf).to(device), p=2, dim=1)
            except (RuntimeError, AssertionError) as e:  # no such device, torch built without CUDA
                raise ValueError(f"cannot compute CAL's distances on {device!r}: {str(e).splitlines()[0]}") from None
        else:
            self.qf, self.gf = l2_normalize(qf), l2_normalize(gf)

    def __getitem__(self, rows) -> np.ndarray:
        if self.backend == "numpy":
            return -(self.qf[rows] @ self.gf.T)
        torch = self._torch
        idx = range(self.shape[0])[rows]
        out = np.empty((len(idx), self.shape[1]), dtype=np.float32)
        with torch.inference_mode():
            gt = self.gf.t()
            for k, i in enumerate(idx):  # CAL: distmat[i] = (-torch.mm(qf[i:i+1], gf.t())).cpu()
                out[k] = (-torch.mm(self.qf[i:i + 1], gt)).cpu().numpy()[0]
        return out


class EuclideanDistance(_Rows):
    """Squared Euclidean distance of the features as given (torchreid's and fast-reid's ``euclidean``), by rows."""

    def __init__(self, query_features: np.ndarray, gallery_features: np.ndarray):
        self.qf, self.gf = _pair(query_features, gallery_features)
        self.shape = (self.qf.shape[0], self.gf.shape[0])
        self._g2 = (self.gf.astype(np.float64) ** 2).sum(axis=1)

    def __getitem__(self, rows) -> np.ndarray:
        q = self.qf[rows].astype(np.float64)
        d = (q ** 2).sum(axis=1)[:, None] + self._g2[None, :] - 2.0 * (q @ self.gf.T.astype(np.float64))
        return np.maximum(d, 0.0)


def distance(name: str, query_features: np.ndarray, gallery_features: np.ndarray, backend: str = "numpy",
             device: str = "cpu") -> _Rows:
    """The row-computed distance called ``name`` (``cosine`` or ``euclidean``)."""
    if name == "cosine":
        return CosineDistance(query_features, gallery_features, backend, device)
    if name == "euclidean":
        if backend != "numpy":
            raise ValueError("CAL's torch path is defined for the cosine distance only")
        return EuclideanDistance(query_features, gallery_features)
    raise ValueError(f"unknown distance {name!r}; expected one of {', '.join(DISTANCES)}")
