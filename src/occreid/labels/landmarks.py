"""The 33 pose landmarks of a person crop, for keypoint labels: MediaPipe's pose landmark model run
through the embedded parser's public pieces (``parser.pose``, ``parser.framing``).

Part maps keep no landmarks, so ``occreid labels`` finds them again on the original pixels, framed
as the embedded parser's first pass frames a crop: bars trimmed (``framing.content_box``), the
crop letterboxed as a square ``scale`` x its longer side (``framing.crop_regions``, the most
confident square kept for wide frames), and when that finds no pose, MediaPipe's own region from
the first pass's landmarks (``pose.landmark_roi``). A pose whose presence score is below
``min_presence`` (MediaPipe's 0.5) gives no skeleton. The model keeps no state, so the landmarks
depend only on the image.
"""

from __future__ import annotations

import numpy as np


class LandmarkFinder:
    """``find(rgb) -> (33 x 3 landmarks in image pixels: x, y, visibility) or None``.

    One LiteRT interpreter; ``threads`` threads (built once, reused for every image)."""

    def __init__(self, scale: float = 1.5, min_presence: float = 0.5, refine_scale: float = 1.5, threads: int = 1):
        from ..parser.pose import PoseLandmarkModel

        self.scale, self.min_presence, self.refine_scale = float(scale), float(min_presence), float(refine_scale)
        self._model = PoseLandmarkModel(threads=threads)

    def find(self, rgb: np.ndarray) -> np.ndarray | None:
        from ..parser import framing
        from ..parser.base import as_rgb
        from ..parser.pose import landmark_roi

        im = as_rgb(rgb)
        top, bottom, left, right = framing.content_box(im)
        picture = np.ascontiguousarray(im[top:bottom, left:right])
        h, w = picture.shape[:2]
        small = (min(h, 64), min(w, 64))  # the landmarks do not need the segmentation: keep it small
        runs = [self._model.run(picture, roi, small) for roi in framing.crop_regions(h, w, self.scale)]
        best = max(runs, key=lambda o: o.presence)
        if best.presence < self.min_presence:
            roi = landmark_roi(best.landmarks, self.refine_scale)
            if roi is not None and roi[2] >= 0.05 * max(h, w):
                second = self._model.run(picture, roi, small)
                best = second if second.presence > best.presence else best
        if best.presence < self.min_presence:
            return None
        lm = np.array(best.landmarks[:33, :3], np.float64)
        lm[:, 0] += left
        lm[:, 1] += top
        return lm

    def close(self) -> None:
        model, self._model = self._model, None  # type: ignore[assignment]  # closed: no model from now on
        if model is not None:
            model.close()
