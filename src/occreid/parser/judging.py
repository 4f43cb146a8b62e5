"""Whether a pass of the pose model saw a person: the judging that ``direct.DirectParser`` applies to
each pass, and the person detector's second opinion on the borderline ones.

A pass is believed when its own outputs say so (``evidence.py``: the person score, the heatmaps'
spread; the silhouette fallback also needs a confident mask and a mask on image edges). Those
outputs cannot tell a weakly seen person from a skeleton hallucinated on a van, a signpost or a
row of cones: such skeletons are accepted just above the person score's operating point, or by
the silhouette fallback. For exactly those maps, and for misses and maps of low part quality, a
second network is asked, MediaPipe's person detector (``detector.PersonDetector``): its best
detection on the picture fitted whole frames one more pass (as MediaPipe's Pose graph frames the
landmark model), and a map still borderline is kept only when the detector finds a person in the
picture centred in a wider square (operating points and figures: docs/part-quality.md, "Fifth
round").

``PassJudging`` is a mixin: it reads the options ``DirectParser`` sets in its constructor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import evidence, silhouette
from .detector import PersonDetector, body_roi
from .pose import PoseLandmarkModel, PoseOutput
from .silhouette import PictureCues


class PassJudging:
    """The judging of one pass (see the module docstring); mixed into ``direct.DirectParser``."""

    min_presence: float
    min_score: float
    peak_weight: float
    overclaim_weight: float
    max_spread: float
    min_silhouette_presence: float
    min_silhouette_score: float
    min_silhouette_confidence: float
    min_silhouette_contrast: float
    max_colour_overlap: float
    silhouette: dict[str, Any]
    detector_band: float
    min_detector_score: float
    min_detection: float
    min_quality: float
    stats: dict[str, int]
    _cut: float
    _picture_cues: PictureCues | None
    _detector: PersonDetector | None

    if TYPE_CHECKING:  # provided by ``direct.DirectParser``
        def _judge(self, out: PoseOutput, picture: np.ndarray,
                   min_score: float | None = None) -> tuple[np.ndarray | None, str]: ...
        def _run_model(self) -> PoseLandmarkModel: ...
        def _mask_size(self, h: int, w: int) -> tuple[int, int]: ...
        def quality(self, parts: np.ndarray, out: PoseOutput) -> float | None: ...

    def _cues(self, picture: np.ndarray) -> PictureCues:
        """The picture's image cues, kept while the same picture is judged."""
        if self._picture_cues is None or self._picture_cues.rgb is not picture:
            self._picture_cues = PictureCues(picture)
        return self._picture_cues

    def person_score(self, out: PoseOutput) -> float:
        """How sure a pass is that it saw a person (``evidence.person_score``): a skeleton
        hallucinated on a van has weak heatmap peaks while the model calls its limbs visible."""
        return evidence.person_score(out.presence, out.peaks, out.landmarks[:, 2], self.peak_weight,
                                     self.overclaim_weight)

    def _spread(self, out: PoseOutput) -> float:
        return 0.0 if out.heatmaps is None else evidence.heatmap_spread(out.heatmaps)

    def _unsure(self, out: PoseOutput, min_score: float | None = None) -> str | None:
        """Why a pass's person is not believed (presence or person score too low), or None."""
        if out.presence < self.min_presence:
            return f"no person: presence {out.presence:.2f} < {self.min_presence:.2f}"
        score = self.person_score(out)
        least = self.min_score if min_score is None else min_score
        if score < least:
            return f"no person: person score {score:.2f} < {least:.2f} (presence {out.presence:.2f})"
        spread = self._spread(out)
        if spread > self.max_spread:
            return (f"no person: landmarks not located (heatmap spread {spread:.1f} > {self.max_spread:.1f} cells, "
                    f"person score {score:.2f})")
        return None

    def _silhouette(self, out: PoseOutput, picture: np.ndarray) -> tuple[np.ndarray | None, str]:
        """A pass's map from its silhouette, or None and, when the mask was a standing silhouette
        refused for its evidence (heatmap spread, mask confidence), why (for the no_person reason)."""
        if out.presence < self.min_silhouette_presence or self.person_score(out) < self.min_silhouette_score:
            return None, ""
        person = out.mask_logits > self._cut
        if silhouette.silhouette_check(person, **self.silhouette) is not None:
            return None, ""
        spread = self._spread(out)
        if spread > self.max_spread:
            return None, f"heatmap spread {spread:.1f} > {self.max_spread:.1f}"
        confidence = evidence.mask_confidence(out.mask_logits, self._cut)
        if confidence < self.min_silhouette_confidence:
            return None, f"mask confidence {confidence:.2f} < {self.min_silhouette_confidence:.2f}"
        cues = self._cues(picture)
        if cues.contrast(person) < self.min_silhouette_contrast:
            return None, ""
        if cues.colour_overlap(person) > self.max_colour_overlap:
            return None, ""
        parts = silhouette.silhouette_parts(person)
        return (parts, "") if parts.any() else (None, "")

    def _ask_detector(self, picture: np.ndarray, parts: np.ndarray | None, reason: str, source: str,
                      out: PoseOutput | None) -> tuple[np.ndarray | None, str, str, PoseOutput | None, float | None]:
        """The person detector on a doubtful outcome: a miss, a borderline map (from the
        silhouette, or a person score under ``detector_band``) or a map of part quality under
        ``min_quality``. The HOG boxes of a street video often hold a small person the crop-wide
        passes miss, or a signpost they take for one: a detection at least ``min_detection`` sure
        frames one more pass, on the region MediaPipe's Pose graph derives from it (when at least
        a quarter of the picture's longer side: a guard against degenerate regions), kept when it
        is judged a person and its map's part quality is higher. A map still borderline then
        needs the detector's score over wider framings (``PersonDetector.best_score``) to reach
        ``min_detector_score``. Returns (parts, reason, source, pass, part quality)."""
        quality = None if parts is None or out is None else self.quality(parts, out)
        if self._detector is None or out is None or (
                quality is not None and quality >= self.min_quality and not self._borderline(source, out)):
            return parts, reason, source, out, quality
        self.stats["detector_pass"] += 1
        seen, points = self._detector.detect(picture)
        roi = body_roi(points)
        h, w = picture.shape[:2]
        if seen >= self.min_detection and roi[2] >= 0.25 * max(h, w):
            self.stats["detected_pass"] += 1
            other = self._run_model().run(picture, roi, self._mask_size(h, w))
            found, _ = self._judge(other, picture)
            better = None if found is None else self.quality(found, other)
            if better is not None and (quality is None or better > quality):
                parts, reason, source, out, quality = found, "", "pose", other, better
        if parts is None or not self._borderline(source, out):
            return parts, reason, source, out, quality
        best = self._detector.best_score(picture)
        if best >= self.min_detector_score:
            return parts, reason, source, out, quality
        kind = "standing silhouette" if source == "silhouette" else f"person score {self.person_score(out):.2f}"
        return None, f"no person: the person detector's score {best:.2f} < {self.min_detector_score:.2f} ({kind})", \
            "", out, None

    def _borderline(self, source: str, out: PoseOutput) -> bool:
        """Whether a map's own evidence is borderline: from the silhouette, or a low person score."""
        return source == "silhouette" or self.person_score(out) < self.detector_band
