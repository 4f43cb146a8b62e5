"""Whether a pass of the pose model saw a person: the judging that ``direct.DirectParser`` applies to
each pass, and the person detector's second opinion on the borderline ones.

A pass is believed when its own outputs say so (``evidence.py``: the person score, the heatmaps'
spread; the silhouette fallback also needs a confident mask and a mask on image edges). Those
outputs cannot tell a weakly seen person from a skeleton hallucinated on a van, a signpost or a
row of cones: such skeletons are accepted just above the person score's operating point, or by
the silhouette fallback. For exactly those maps a second network is asked, MediaPipe's person
detector (``detector.PersonDetector``), on the picture framed three ways; the map is kept when
it finds a person in any of them (operating point and figures: docs/part-quality.md, "Fifth
round").

``PassJudging`` is a mixin: it reads the options ``DirectParser`` sets in its constructor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import evidence, silhouette
from .detector import PersonDetector
from .pose import PoseOutput
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
    stats: dict[str, int]
    _cut: float
    _picture_cues: PictureCues | None
    _detector: PersonDetector | None

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

    def _second_opinion(self, picture: np.ndarray, source: str, out: PoseOutput) -> str:
        """Why the person detector refuses a borderline map (a pass from the silhouette or with
        a person score under ``detector_band``), or "" when it finds a person or is not asked."""
        if self._detector is None or self.min_detector_score <= 0.0:
            return ""
        score = self.person_score(out)
        if source != "silhouette" and score >= self.detector_band:
            return ""
        self.stats["detector_pass"] += 1
        seen = self._detector.best_score(picture)
        if seen >= self.min_detector_score:
            return ""
        kind = "standing silhouette" if source == "silhouette" else f"person score {score:.2f}"
        return f"no person: the person detector's score {seen:.2f} < {self.min_detector_score:.2f} ({kind})"
