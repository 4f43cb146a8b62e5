"""The passes that look for the crop's subject: the person a re-ID box was drawn around, when the
pose model's first map may be of someone else or of two people at once.

A detector box is drawn around one person: that person stands in its middle, on its bottom edge,
and fills its height; a passer-by is cut off at a side, a person farther away stands higher up.
``DirectParser`` runs these passes after its usual ones (``subject.py`` has the geometry):

- **the subject pass**: a skeleton whose centre line is far off the crop's may be a passer-by; it is
  hidden and the crop parsed again, and the more centred skeleton is kept;
- **the close pass**: when the tight pass's heatmaps show two people and its person score is in
  doubt, the crop framed closer still, kept when surer;
- **the bottom pass**: a map of low part quality whose heatmaps show two people is often a
  skeleton mixing them (one's head, the other's legs); the crop's lower part, where the subject
  stands, is framed on its own, and its map kept when clearly better (docs/part-quality.md,
  thirteenth round).

``SubjectPasses`` is a mixin: it reads the options ``DirectParser`` sets in its constructor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import framing, subject
from .body_model import HEAD
from .pose import PoseLandmarkModel, PoseOutput


class SubjectPasses:
    """The passes for the crop's subject (see the module docstring); mixed into
    ``direct.DirectParser``."""

    scale: float
    tight_scale: float | None
    max_offset: float
    close_scale: float | None
    min_rivals: int
    doubt_score: float
    tight_min_score: float
    bottom_quality: float
    bottom_rivals: int
    bottom_fractions: tuple[float, ...]
    bottom_min_quality: float
    stats: dict[str, int]

    if TYPE_CHECKING:  # provided by ``direct.DirectParser``
        def _find(self, im: np.ndarray) -> tuple[np.ndarray | None, str, str, PoseOutput | None]: ...
        def _judge(self, out: PoseOutput, picture: np.ndarray,
                   min_score: float | None = None) -> tuple[np.ndarray | None, str]: ...
        def _core(self, out: PoseOutput, w: int, h: int) -> np.ndarray: ...
        def _framed(self, im: np.ndarray, scale: float, mask_size: tuple[int, int]) -> PoseOutput: ...
        def _run_model(self) -> PoseLandmarkModel: ...
        def _mask_size(self, h: int, w: int) -> tuple[int, int]: ...
        def person_score(self, out: PoseOutput) -> float: ...
        def quality(self, parts: np.ndarray, out: PoseOutput) -> float | None: ...

    def _parse_picture(self, im: np.ndarray) -> tuple[np.ndarray | None, str, str, PoseOutput | None]:
        """(parts at the mask's size or None, reason, source, the pass used) for a trimmed picture,
        of the crop's subject: when the skeleton found sits off the centre line of a person-shaped
        crop, that person is hidden and the crop parsed again; the more centred skeleton of the
        two, when about as tall, is kept."""
        parts, reason, source, out = self._find(im)
        h, w = im.shape[:2]
        if (
            out is not None
            and source == "pose"
            and self.max_offset < 0.5
            and len(framing.crop_regions(h, w, self.scale)) == 1
            and subject.centre_offset(out.landmarks, w) > self.max_offset
        ):
            self.stats["subject_pass"] += 1
            hidden = subject.hide(im, self._core(out, w, h))
            mh, mw = out.mask_logits.shape
            other = self._run_model().run(hidden, framing.crop_regions(h, w, self.scale)[0], (mh, mw))
            parts2, _ = self._judge(other, hidden)
            if parts2 is not None and subject.is_subject(out.landmarks, other.landmarks, w):
                return parts2, "", "pose", other
        return parts, reason, source, out

    def _closer(self, im: np.ndarray, parts: np.ndarray, tight: PoseOutput,
                mask_size: tuple[int, int]) -> tuple[np.ndarray, str, str, PoseOutput]:
        """The tight pass's map or, when its heatmaps show two people (``min_rivals`` rival peaks)
        and its person score is under ``doubt_score``, the crop's framed closer still
        (``close_scale``) if surer: the box's own person fills more of the input, a neighbour less."""
        if (
            self.close_scale is None
            or tight.heatmaps is None
            or self.person_score(tight) >= self.doubt_score
            or subject.rival_peaks(tight.heatmaps) < self.min_rivals
        ):
            return parts, "", "pose", tight
        self.stats["close_pass"] += 1
        close = self._framed(im, self.close_scale, mask_size)
        parts2, _ = self._judge(close, im, self.tight_min_score)
        if parts2 is not None and self.person_score(close) > self.person_score(tight):
            return parts2, "", "pose", close
        return parts, "", "pose", tight

    def _from_bottom(self, im: np.ndarray, parts: np.ndarray | None, source: str, out: PoseOutput | None,
                     quality: float | None) -> tuple[np.ndarray | None, PoseOutput | None, float | None]:
        """(parts, pass, part quality): the map found or, when its part quality is under
        ``bottom_quality`` and its heatmaps show two people (``bottom_rivals`` rival peaks), the
        best of the passes framed on the crop's lower part (``framing.bottom_regions``:
        ``bottom_fractions`` of its height, resting on its bottom edge), if judged a person, with a
        head, a part quality of at least ``bottom_min_quality`` and higher than the first's."""
        if (
            not self.bottom_fractions
            or parts is None
            or out is None
            or quality is None
            or source != "pose"
            or quality >= self.bottom_quality
            or out.heatmaps is None
        ):
            return parts, out, quality
        h, w = im.shape[:2]
        if len(framing.crop_regions(h, w, self.scale)) > 1 or subject.rival_peaks(out.heatmaps) < self.bottom_rivals:
            return parts, out, quality
        best = (parts, out, quality)
        for roi in framing.bottom_regions(h, w, self.bottom_fractions, self.tight_scale or self.scale):
            self.stats["bottom_pass"] += 1
            other = self._run_model().run(im, roi, self._mask_size(h, w))
            found, _ = self._judge(other, im)
            if found is None or not (found == HEAD).any():
                continue
            better = self.quality(found, other)
            if better is not None and better >= self.bottom_min_quality and better > best[2]:
                best = (found, other, better)
        return best
