"""MediaPipe's whole Pose graph (person detector first) -> 7-label part map: ``--parser mediapipe-graph``.

Not the default: re-ID images are already person crops, and ``direct.py`` runs the graph's
landmark model on the crop itself, skipping the detector, at about half the cost and finding more
people (``benchmarks/bench_parser.py``, the same 300 crops per set of prcc / ltcc / mars /
market1501-mini: 99.3 / 98.3 / 99.3 / 100 % against 97.3 / 97.7 / 95.3 / 87.5 %; a person half as
tall as a 640 x 480 scene: 27 and 26 of 30 against 20 and 25). What the graph still does better:
it turns its region to the body's own axis, so it rejects people lying down or upside down
(and every generated non-person image, where the direct parser rejects 99 %), which the direct
parser, assuming upright crops as re-ID crops are, parses with the parts in the wrong place.

``mediapipe==0.10.21`` ships its pose models inside the wheel, so this parser needs no download.
Only ``model_complexity=1`` works offline (0 and 2 fetch a model when built). MediaPipe is imported
when a parser is built, not when ``occreid`` is imported.

Per image: the crop is padded (edge replication; a person filling the crop is often missed
otherwise), run through one ``Pose(static_image_mode=True, enable_segmentation=True)`` graph,
mapped back to the crop's coordinates, checked by ``pose_geometry.sanity_check`` and turned into a
part map by ``pose_geometry.part_map``. A miss (no landmarks, or a skeleton the check rejects) is
retried once on a mirrored, more padded copy.

Measured on real re-ID crops (PRCC/LTCC/MARS 128x256, Market-1501 64x128), people found: without
padding 33-69%, padded by 0.35 x height 76-93%, with the mirrored retry 88-96%.

In static image mode the graph keeps no state between images (no landmark smoothing, no tracking),
so the same image gives the same map whatever was parsed before and in any process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import pose_geometry
from .base import Parser, ParseResult, as_rgb
from .stderr import filtered_stderr as _filtered_stderr

#: Landmark order after a left-right mirror: MediaPipe's left and right swap.
_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
          (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
_MIRROR = np.arange(33)
for _a, _b in _PAIRS:
    _MIRROR[_a], _MIRROR[_b] = _b, _a
del _a, _b

class MediaPipeParser(Parser):
    """Offline body-part parser built on MediaPipe Pose (see the module docstring).

    Args:
        min_visibility: limb bones whose landmarks have a lower MediaPipe visibility are dropped.
        mask_threshold: a pixel belongs to the person when MediaPipe's mask exceeds it.
        max_distance: person pixels farther than this many capsule radii from every bone are
            background (``pose_geometry.part_map``).
        pad: padding added on every side before the first attempt, as a fraction of the image
            height (edge replication); 0 runs the crop as it is.
        retry: retry a miss once on a more padded, mirrored copy.
        retry_pad: padding of the retry, as a fraction of the height.
        retry_mirror: mirror the crop left-right for the retry (MediaPipe then errs differently;
            measured: +3 points of people found over an unmirrored retry).
        retry_min_height: the retry upscales crops shorter than this many pixels first (0: never;
            measured no gain for 64 x 128 Market-1501 crops, MediaPipe resizes internally).
        max_height: taller images are run downscaled to this height (MediaPipe looks at 224-256 px
            anyway; this bounds the cost of the full-size mask); the map keeps the image's size.
            0 turns it off.
        min_detection_confidence: MediaPipe's person-detector threshold.
        gate: keyword overrides of ``pose_geometry.sanity_check`` thresholds.
        geometry: keyword overrides of ``pose_geometry.part_map`` options (e.g. ``radii``).
        quiet: filter MediaPipe's routine stderr messages (other stderr output is kept).

    A parser holds one MediaPipe graph; use one per process (or thread).
    """

    name = "mediapipe-graph"
    requires = (("mediapipe", "mediapipe==0.10.21"),)
    prebuild = False  # embedded: cheap to check, each worker builds its own

    def __init__(
        self,
        *,
        min_visibility: float = 0.25,
        mask_threshold: float = 0.5,
        max_distance: float = 2.5,
        pad: float = 0.35,
        retry: bool = True,
        retry_pad: float = 0.5,
        retry_mirror: bool = True,
        retry_min_height: int = 0,
        max_height: int = 512,
        min_detection_confidence: float = 0.5,
        gate: dict[str, float] | None = None,
        geometry: dict[str, Any] | None = None,
        quiet: bool = True,
    ) -> None:
        if not 0.0 <= min_detection_confidence <= 1.0:
            raise ValueError("min_detection_confidence must be in [0, 1]")
        if pad < 0 or retry_pad < 0:
            raise ValueError("pad and retry_pad must be >= 0")
        self.min_visibility = float(min_visibility)
        self.mask_threshold = float(mask_threshold)
        self.max_distance = float(max_distance)
        self.pad = float(pad)
        self.retry = bool(retry)
        self.retry_pad = float(retry_pad)
        self.retry_mirror = bool(retry_mirror)
        self.retry_min_height = int(retry_min_height)
        self.max_height = int(max_height)
        self.min_detection_confidence = float(min_detection_confidence)
        self.gate = dict(gate or {})
        self.geometry = dict(geometry or {})
        self.quiet = bool(quiet)
        with _filtered_stderr(self.quiet):
            import cv2
            import mediapipe as mp

            self._cv2 = cv2
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=True,
                smooth_landmarks=False,
                smooth_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
            )
            # The graph opens its calculators (and logs about it) on its own threads after the
            # constructor returns; one run on a blank image waits for that inside the filter.
            self._pose.process(np.zeros((64, 64, 3), dtype=np.uint8))

    # -- one MediaPipe run ---------------------------------------------------------------------

    def _run(
        self, im: np.ndarray, pad: float, scale: float, mirror: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Run Pose on ``im`` mirrored left-right (if ``mirror``), resized by ``scale`` and padded
        by ``pad`` x height on every side; return landmarks (33 x 3, pixels of ``im``, MediaPipe's
        left/right meaning kept) and the float mask at ``im``'s size."""
        cv2 = self._cv2
        h, w = im.shape[:2]
        work = np.ascontiguousarray(im[:, ::-1]) if mirror else im
        if scale != 1.0:
            size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
            work = cv2.resize(work, size, interpolation=cv2.INTER_LINEAR)
        hr, wr = work.shape[:2]
        p = int(round(pad * hr))
        if p > 0:
            work = cv2.copyMakeBorder(work, p, p, p, p, cv2.BORDER_REPLICATE)
        work = np.ascontiguousarray(work)
        with _filtered_stderr(self.quiet):
            res = self._pose.process(work)
        if res.pose_landmarks is None or res.segmentation_mask is None:
            return None, None
        hp, wp = work.shape[:2]
        lm = np.array([[p_.x, p_.y, p_.visibility] for p_ in res.pose_landmarks.landmark], dtype=np.float64)
        lm[:, 0] = (lm[:, 0] * wp - p) * (w / wr)
        lm[:, 1] = (lm[:, 1] * hp - p) * (h / hr)
        mask = np.array(res.segmentation_mask, dtype=np.float32, copy=True)[p : p + hr, p : p + wr]
        if mask.shape != (h, w):
            shrink = mask.shape[0] > h
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if mirror:
            lm[:, 0] = w - lm[:, 0]
            lm = lm[_MIRROR]
            mask = mask[:, ::-1]
        return lm, np.ascontiguousarray(mask)

    def _attempt(self, im: np.ndarray, pad: float, scale: float, mirror: bool) -> tuple[np.ndarray | None, str]:
        lm, mask = self._run(im, pad, scale, mirror)
        h, w = im.shape[:2]
        gate = {"mask_threshold": self.mask_threshold, **self.gate}
        reason = pose_geometry.sanity_check(lm, mask, h, w, **gate)
        if reason is not None:
            return None, reason
        assert lm is not None and mask is not None, "sanity_check refuses a pass without landmarks or mask"
        geometry = {
            "mask_threshold": self.mask_threshold,
            "min_visibility": self.min_visibility,
            "max_distance": self.max_distance,
            **self.geometry,
        }
        parts = pose_geometry.part_map(lm, mask, **geometry)
        if not parts.any():
            return None, "no person"
        return parts, ""

    # -- Parser API ----------------------------------------------------------------------------

    def parse(self, rgb: np.ndarray) -> ParseResult:
        """Parse one H x W x 3 uint8 RGB image (grey and RGBA are accepted and converted).

        Returns ``ParseResult(parts, "")`` with an H x W uint8 map (0 background .. 6 lower legs),
        or ``ParseResult(None, reason)`` when no plausible person is found ("no person",
        "person too small", "skeleton implausible: ...").
        """
        if self._pose is None:
            raise RuntimeError("parser is closed")
        im = as_rgb(rgb)
        h, w = im.shape[:2]
        if min(h, w) < 8:
            return ParseResult(None, "no person")
        base = min(1.0, self.max_height / h) if self.max_height > 0 else 1.0
        parts, reason = self._attempt(im, self.pad, base, False)
        if parts is None and self.retry:
            scale = max(base, self.retry_min_height / h)
            parts2, reason2 = self._attempt(im, self.retry_pad, scale, self.retry_mirror)
            if parts2 is not None:
                parts = parts2
            elif reason == "no person":
                reason = reason2
        if parts is None:
            return ParseResult(None, reason)
        return ParseResult(parts, "", "pose")

    def close(self) -> None:
        """Release the MediaPipe graph (the parser cannot parse afterwards)."""
        pose, self._pose = getattr(self, "_pose", None), None
        if pose is not None:
            with _filtered_stderr(self.quiet):
                pose.close()

    def __enter__(self) -> MediaPipeParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
