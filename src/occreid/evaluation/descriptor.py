"""A weight-free baseline re-ID descriptor: colour histograms over horizontal stripes.

The classic hand-crafted re-ID feature (ELF, SDALF, LOMO and their kin): the crop is resized,
cut into horizontal stripes (head to feet), and each stripe is described by colour histograms,
weighted towards the vertical axis of the crop where the person stands. It needs no weights and no
GPU, so ``occreid evaluate`` runs out of the box; it is weak in absolute terms (colour is exactly
what a change of clothes changes), but its drop from an original dataset to its occluded twin shows
the occluder's effect on real crops.

Per stripe: a joint HSV histogram (hue x saturation x value), a hue histogram of the saturated
pixels and a grey-level histogram, each L1-normalised, square-rooted (the Hellinger map) and
concatenated; the whole vector is L2-normalised. The double-height stripes (``overlap``) are sums of
two adjacent stripes' histograms, so the whole descriptor costs one ``bincount`` per histogram kind.

As in the deep pipeline, :func:`baseline_features` sums the features of each image and of its
horizontal mirror (``flip=True``). The stripes span the full width and the weights are symmetric,
so for this descriptor the flip-sum leaves the normalised feature unchanged (a property the tests
check); it is kept so the baseline goes through the same steps as ``embed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ..datasets import Dataset
from .metrics import l2_normalize


@dataclass(frozen=True)
class StripeHistogram:
    """Parameters of the stripe colour-histogram descriptor (defaults: 8 stripes on a 128x64 crop).

    Args:
        height, width: size the crop is resized to (bilinear) before anything else.
        stripes: number of horizontal stripes.
        overlap: also describe the ``stripes - 1`` double-height windows spanning two adjacent
            stripes (``2 * stripes - 1`` windows in all).
        hsv_bins: (hue, saturation, value) bins of the joint histogram.
        hue_bins: bins of the hue histogram of saturated pixels (saturation above ``min_sat``).
        grey_bins: bins of the grey-level histogram.
        sigma: width of the horizontal Gaussian weighting, as a fraction of the crop width
            (``None``: uniform weights).
    """

    height: int = 128
    width: int = 64
    stripes: int = 8
    overlap: bool = True
    hsv_bins: tuple[int, int, int] = (8, 4, 4)
    hue_bins: int = 16
    min_sat: float = 0.25
    grey_bins: int = 16
    sigma: float | None = 0.3

    def __post_init__(self):
        if self.height < self.stripes or self.width < 1 or self.stripes < 1:
            raise ValueError(f"bad descriptor size: {self.height}x{self.width} with {self.stripes} stripes")

    @property
    def windows(self) -> list[tuple[int, int]]:
        """(top, bottom) rows of each stripe window."""
        edges = np.linspace(0, self.height, self.stripes + 1).round().astype(int)
        wins = [(int(edges[i]), int(edges[i + 1])) for i in range(self.stripes)]
        if self.overlap:
            wins += [(int(edges[i]), int(edges[i + 2])) for i in range(self.stripes - 1)]
        return wins

    @property
    def dim(self) -> int:
        """Length of the descriptor."""
        h, s, v = self.hsv_bins
        return len(self.windows) * (h * s * v + self.hue_bins + self.grey_bins)

    def _one(self, rgb: np.ndarray) -> np.ndarray:
        """The unnormalised descriptor of an H x W x 3 uint8 image already at the working size."""
        hsv = np.asarray(Image.fromarray(rgb).convert("HSV"))
        h, s, v = (hsv[..., i].astype(np.int64) for i in range(3))  # 0..255 each
        grey = np.asarray(Image.fromarray(rgb).convert("L")).astype(np.int64)
        hb, sb, vb = self.hsv_bins
        joint = ((h * hb >> 8) * sb + (s * sb >> 8)) * vb + (v * vb >> 8)
        hue = h * self.hue_bins >> 8
        grey_i = grey * self.grey_bins >> 8
        weights = self._weights
        sat = (s >= round(self.min_sat * 256)).ravel()
        stripe = self._stripe_of_pixel
        parts = []
        for idx, n, w in ((joint.ravel(), hb * sb * vb, weights), (hue.ravel(), self.hue_bins, weights * sat),
                          (grey_i.ravel(), self.grey_bins, weights)):
            if n == 0:
                continue
            hist = np.bincount(stripe * n + idx, weights=w, minlength=self.stripes * n).reshape(self.stripes, n)
            if self.overlap:  # a double-height window is the sum of two adjacent stripes
                hist = np.concatenate([hist, hist[:-1] + hist[1:]])
            total = hist.sum(axis=1, keepdims=True)
            parts.append(np.sqrt(hist / np.maximum(total, 1e-12)))
        return np.concatenate(parts, axis=1).ravel()

    @cached_property
    def _stripe_of_pixel(self) -> np.ndarray:
        edges = np.linspace(0, self.height, self.stripes + 1).round().astype(int)
        rows = np.searchsorted(edges, np.arange(self.height), side="right") - 1
        return np.repeat(rows, self.width).astype(np.int64)

    @cached_property
    def _weights(self) -> np.ndarray:
        x = (np.arange(self.width) + 0.5) / self.width - 0.5
        col = np.ones(self.width) if self.sigma is None else np.exp(-0.5 * (x / self.sigma) ** 2)
        return np.tile(col, self.height)

    def describe(self, image: Image.Image | np.ndarray, flip: bool = False) -> np.ndarray:
        """The L2-normalised descriptor of one image (PIL image or H x W x 3 uint8 array)."""
        im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
        rgb = np.asarray(im.convert("RGB").resize((self.width, self.height), Image.Resampling.BILINEAR))
        feat = self._one(rgb)
        if flip:
            feat = feat + self._one(np.ascontiguousarray(rgb[:, ::-1]))
        return l2_normalize(feat.astype(np.float32))

    def describe_paths(
        self, paths: Sequence[str | Path], flip: bool = False, workers: int = 4,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Descriptors of image files (N x dim float32), decoded and described in threads."""

        def one(p):
            with Image.open(p) as im:
                im.draft("RGB", (self.width * 2, self.height * 2))  # JPEG: decode at reduced size
                return self.describe(im, flip=flip)

        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for i, feat in enumerate(pool.map(one, paths)):
                out[i] = feat
                if progress is not None:
                    progress(1)
        return out


def baseline_features(
    dataset: Dataset, descriptor: StripeHistogram | None = None, flip: bool = True, workers: int = 4,
    progress: Callable[[int], None] | None = None,
):
    """A :class:`~occreid.evaluation.protocols.FeatureTable` of the baseline descriptor over the
    dataset's evaluation images (queries and galleries of every setting, not train)."""
    from .protocols import FeatureTable, evaluation_records

    descriptor = descriptor or StripeHistogram()
    records = evaluation_records(dataset)
    feats = descriptor.describe_paths([Path(dataset.root) / r.relpath for r in records], flip=flip,
                                      workers=workers, progress=progress)
    return FeatureTable([r.relpath for r in records], feats)
