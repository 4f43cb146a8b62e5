"""The embedded parser: MediaPipe's pose landmark model run directly on the person crop.

Re-ID images are already detector boxes, so the person detector of MediaPipe's Pose graph (and
the padding and mirrored retries that coaxed it) is skipped: the crop itself is the region of
interest. Per image:

1. uniform or edge-replicated bars are trimmed (``framing.content_box``);
2. the crop is letterboxed into the model's 256 x 256 input as a square ``tight_scale`` (1.25) x its
   longer side (edge pixels replicated; a tiny crop is upscaled and a big one shrunk by the same
   warp); a frame much wider than a standing person is covered by overlapping squares and the most
   confident kept (``framing.crop_regions``). Framed this tight, the landmarks are located best;
   the map is taken at person score ``tight_min_score`` (framed closer still when two people may
   be mixed), else the passes run again at ``scale`` (1.5), which shows a cut-off person whole;
3. one inference (``pose.PoseLandmarkModel``) gives 33 landmarks, the presence score and the
   person segmentation; ``pose_geometry.sanity_check`` judges the skeleton and
   ``pose_geometry.part_map`` turns landmarks + segmentation into the six parts (source ``pose``);
4. only when that fails, a second pass runs on the region MediaPipe itself would derive from the
   landmarks (hip centre, a square 3 x the hip-to-head-top distance), then a third on the box
   around the person segmentation if it is noticeably tighter (a small or off-centre person);
5. else, when the segmentation is a plausible standing-person silhouette, the parts come from it
   and body proportions (source ``silhouette``); otherwise the image has no person, and the
   reason is the most confident pass's, with its numbers;
6. a skeleton whose centre line is far off the crop's may be a passer-by: it is hidden and the
   crop parsed again, keeping the more centred person (``subject_passes.py``, ``subject.py``);
7. on a miss, a borderline map (from the silhouette, or a person score just above its operating
   point) or a map of low part quality, MediaPipe's person detector frames one more pass; a map
   still borderline is kept only when the detector also sees a person (``judging.py``,
   ``detector.py``);
8. a map still of low part quality whose heatmaps show two people may mix them: the crop's lower
   part, where the box's own person stands, is framed on its own, and its map kept when clearly
   better (``subject_passes.py``).

Whether a pass saw a person (``judging.py`` with ``evidence.py``): its person score (presence + landmark heatmap
peaks: a skeleton hallucinated on a van is vaguely located while it calls the limbs visible), its
heatmaps' spread, and two image cues (the mask's outline on image edges, its colours unlike its
surroundings); the silhouette fallback also needs a confident mask; a borderline map, the person
detector's second opinion. Operating points and figures:
docs/part-quality.md (``benchmarks/bench_parts.py``).

Limits: crops are assumed upright (EXIF-rotated files are turned upright by the caller); a person
lying down or upside down is often parsed wrong, where ``mediapipe-graph`` rejects them.

One interpreter per model (pose landmarks, person detector) per parser, ``threads`` threads
(default 1); no state is kept between images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import evidence, framing, mask, pose_geometry, subject
from .base import Parser, ParseResult, as_rgb
from .detector import PersonDetector
from .judging import PassJudging
from .pose import PoseLandmarkModel, PoseOutput, landmark_roi
from .quality import part_quality
from .subject_passes import SubjectPasses


class DirectParser(PassJudging, SubjectPasses, Parser):
    """Body-part parser for person crops built on MediaPipe's pose landmark model (see the module
    docstring).

    Args:
        scale: the crop's region is a square this many times its longer side.
        tight_scale, tight_min_score: the first pass frames the crop tighter (a square this many
            times its longer side) and its map is taken when its person score reaches
            ``tight_min_score``; else the passes at ``scale`` decide. None: no tight pass.
        max_spill: the tight map is also left to those passes when more than this share of it
            lies far off the skeleton (``subject.spill``; 1: unchecked, see docs/part-quality.md).
        close_scale, min_rivals, doubt_score: a tight pass with ``min_rivals`` landmarks whose
            heatmap has a rival peak (``subject.rival_peaks``: two people) and a person score
            under ``doubt_score`` is checked against the crop framed at ``close_scale``.
        min_presence: a pass whose pose presence score is lower has no skeleton (MediaPipe: 0.5;
            here 0.2, as ``min_score`` below tells people from things better than presence alone).
        min_score, min_silhouette_score, peak_weight, overclaim_weight: a pass whose
            ``person_score`` is lower than ``min_score`` has no skeleton, and its silhouette is no
            person below ``min_silhouette_score`` (calibration: docs/part-quality.md).
        max_spread: a pass whose body landmarks' heatmaps spread more (``evidence.heatmap_spread``,
            cells of 64; the 99.9th percentile of the shared sets' people) has no skeleton.
        min_silhouette_confidence: the silhouette fallback needs ``evidence.mask_confidence`` at
            least this (0.5: the mask's pixels are on average 75 % sure).
        detector_band, min_detector_score: a map from the silhouette, or from a pass whose person
            score is under ``detector_band``, is kept only when MediaPipe's person detector scores
            the picture at least ``min_detector_score`` (0: never asked, and the detector is not
            loaded); see ``judging.PassJudging._ask_detector``.
        min_detection, min_quality: on a miss, such a map or a map whose part quality is under
            ``min_quality`` (0.18: the 2nd percentile of the shared sets' people), a detection at
            least ``min_detection`` sure (MediaPipe's own 0.5) frames one more pass, on the region
            MediaPipe derives from it; its map is kept when its part quality is higher.
        refine: when the first pass fails, run a second one on the landmark-derived region, and
            when that fails too, a third on the region around the person mask (``mask_scale`` x
            its box's longer side) if it frames the person tighter.
        refine_scale, mask_scale: the landmark region's side, in multiples of 2 x the hip-centre-
            to-head-top distance (MediaPipe: 1.5); the mask region's, of the mask box's longer side.
        trim: trim uniform or edge-replicated bars before parsing.
        silhouette_fallback: make the map from the silhouette when the landmarks fail but the
            segmentation is a standing person (``silhouette.silhouette_check``).
        min_silhouette_presence: the fallback needs at least this presence score.
        min_contrast, min_silhouette_contrast, max_colour_overlap: the person mask's outline must
            lie on image edges at least this much (``silhouette.boundary_contrast``: real people
            1.3-3, masks hallucinated on gradients or textures about 1), for a map from the
            landmarks and from the silhouette alone; its inside and outside colours may overlap
            at most this much (``silhouette.colour_overlap``), unless the pass's person score
            reaches ``doubt_score`` (a sure skeleton: a person in grey before a grey street).
        mask_threshold: a pixel is person when the segmentation's probability exceeds it.
        limb_threshold: inside a lower arm's or lower leg's capsule, this lower probability is
            enough (hands, feet, thin forearms and shins), see ``pose_geometry.part_map``.
        min_visibility, arm_visibility, max_distance: limb visibility (arms: ``arm_visibility``;
            the model calls a forearm in front of the body hidden more often than not) and
            distance cut-off of ``pose_geometry.part_map``.
        max_height: the geometry runs at most at this height (the map is scaled back); 0: never.
        min_size, min_height: images with a side shorter than ``min_size``, pictures (bars trimmed)
            lower than ``min_height``, have no person (the model "finds" one in 96 % of 16 x 16 noise).
        max_offset: a skeleton whose centre line is farther than this fraction of the width from
            the crop's may be a passer-by: hide it and look for the subject (0.5: never).
        core_distance: what is hidden of that person: their map within this many capsule radii.
        bottom_quality, bottom_rivals, bottom_fractions, bottom_min_quality: a map of part quality
            under ``bottom_quality`` whose heatmaps show two people (``bottom_rivals`` rival peaks)
            is checked against passes framed on the crop's lower part, where its subject stands
            (``bottom_fractions`` of its height), and replaced by the best of their maps scoring at
            least ``bottom_min_quality`` and more than it (``subject_passes.py``; () turns it off).
        threads: LiteRT threads (1: the unit of parallelism is one worker process).
        gate, geometry, silhouette: keyword overrides of ``pose_geometry.sanity_check``,
            ``pose_geometry.part_map`` and ``silhouette.silhouette_check``.

    ``stats`` counts images, people found by each source and second passes run.
    """

    name = "mediapipe"
    requires: tuple[tuple[str, str], ...] = (("mediapipe", "mediapipe==0.10.21"),
                                             ("ai_edge_litert", "ai-edge-litert==2.3.0"))
    prebuild = False  # embedded: cheap to check, each worker builds its own

    def __init__(
        self,
        *,
        scale: float = 1.5,
        tight_scale: float | None = 1.25,
        tight_min_score: float = 3.0,
        max_spill: float = 1.0,
        close_scale: float | None = 1.1,
        min_rivals: int = 17,
        doubt_score: float = 10.0,
        min_presence: float = 0.2,
        min_score: float = 2.75,
        min_silhouette_score: float = 1.5,
        peak_weight: float = 10.0,
        overclaim_weight: float = 4.0,
        max_spread: float = 20.0,
        min_silhouette_confidence: float = 0.5,
        detector_band: float = 3.0,
        min_detector_score: float = 0.3,
        min_detection: float = 0.5,
        min_quality: float = 0.18,
        refine: bool = True,
        refine_scale: float = 1.5,
        mask_scale: float = 1.25,
        trim: bool = True,
        silhouette_fallback: bool = True,
        min_silhouette_presence: float = 0.2,
        min_contrast: float = 1.1,
        min_silhouette_contrast: float = 1.3,
        max_colour_overlap: float = 0.88,
        mask_threshold: float = 0.5,
        limb_threshold: float = 0.2,
        min_visibility: float = 0.25,
        arm_visibility: float = 0.1,
        max_distance: float = 2.5,
        max_height: int = 512,
        min_size: int = 8,
        min_height: int = 32,
        max_offset: float = 0.2,
        core_distance: float = 1.5,
        bottom_quality: float = 0.3,
        bottom_rivals: int = 10,
        bottom_fractions: tuple[float, ...] = (0.8, 0.65),
        bottom_min_quality: float = 0.5,
        threads: int = 1,
        gate: dict[str, float] | None = None,
        geometry: dict[str, Any] | None = None,
        silhouette: dict[str, float] | None = None,
    ) -> None:
        if scale < 1.0 or refine_scale <= 0 or (tight_scale is not None and tight_scale < 1.0):
            raise ValueError("scale and tight_scale must be >= 1 and refine_scale > 0")
        if not 0.0 <= min_presence <= 1.0 or not 0.0 <= min_silhouette_presence <= 1.0:
            raise ValueError("min_presence and min_silhouette_presence must be in [0, 1]")
        if not 0.0 < mask_threshold < 1.0:
            raise ValueError("mask_threshold must be in (0, 1)")
        self.scale = float(scale)
        self.tight_scale = float(tight_scale) if tight_scale else None
        self.tight_min_score = float(tight_min_score)
        self.max_spill = float(max_spill)
        self.close_scale = float(close_scale) if close_scale else None
        self.min_rivals = int(min_rivals)
        self.doubt_score = float(doubt_score)
        self.min_presence = float(min_presence)
        self.min_score = float(min_score)
        self.min_silhouette_score = float(min_silhouette_score)
        self.peak_weight = float(peak_weight)
        self.overclaim_weight = float(overclaim_weight)
        self.max_spread = float(max_spread)
        self.min_silhouette_confidence = float(min_silhouette_confidence)
        self.detector_band = float(detector_band)
        self.min_detector_score = float(min_detector_score)
        self.min_detection = float(min_detection)
        self.min_quality = float(min_quality)
        self.refine = bool(refine)
        self.refine_scale = float(refine_scale)
        self.mask_scale = float(mask_scale)
        self.trim = bool(trim)
        self.silhouette_fallback = bool(silhouette_fallback)
        self.min_silhouette_presence = float(min_silhouette_presence)
        self.min_contrast = float(min_contrast)
        self.min_silhouette_contrast = float(min_silhouette_contrast)
        self.max_colour_overlap = float(max_colour_overlap)
        self.mask_threshold = float(mask_threshold)
        self.min_visibility = float(min_visibility)
        self.arm_visibility = float(arm_visibility)
        self.max_distance = float(max_distance)
        self.max_height = int(max_height)
        self.min_size = max(1, int(min_size))
        self.min_height = max(1, int(min_height))
        self.max_offset = float(max_offset)
        self.core_distance = float(core_distance)
        self.bottom_quality = float(bottom_quality)
        self.bottom_rivals = int(bottom_rivals)
        self.bottom_fractions = tuple(float(f) for f in bottom_fractions)
        self.bottom_min_quality = float(bottom_min_quality)
        self.gate = dict(gate or {})
        self.geometry = dict(geometry or {})
        self.silhouette = dict(silhouette or {})
        self._cut = evidence.logit(self.mask_threshold)  # the threshold on the segmentation's logits
        self._limb_cut = evidence.logit(limb_threshold)
        self.stats = {"images": 0, "pose": 0, "silhouette": 0, "second_pass": 0, "third_pass": 0, "subject_pass": 0,
                      "trimmed": 0, "wide_pass": 0, "close_pass": 0, "detector_pass": 0, "detected_pass": 0,
                      "bottom_pass": 0}
        self._picture_cues = None
        self._cores: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(map) -> (map, map before readmit)
        self._model: PoseLandmarkModel | None = PoseLandmarkModel(threads=threads)
        # The person detector's second opinion, loaded here: a missing model fails before the first image.
        self._detector = PersonDetector(threads, enough=self.min_detector_score) if min_detector_score > 0 else None

    def _judge(self, out: PoseOutput, picture: np.ndarray,
               min_score: float | None = None) -> tuple[np.ndarray | None, str]:
        """The part map of one pass (at the mask's size), or None and why not."""
        image_size = picture.shape[:2]
        unsure = self._unsure(out, min_score)
        if unsure is not None:
            return None, unsure
        mh, mw = out.mask_logits.shape
        lm = self._in_mask(out, image_size[1], image_size[0])
        gate = {"mask_threshold": self._cut, "min_torso": 0.05, "min_mask_fraction": 0.02, **self.gate}
        reason = pose_geometry.sanity_check(lm, out.mask_logits, mh, mw, **gate)
        if reason is not None:
            return None, pose_geometry.describe(reason, lm, out.mask_logits, mask_threshold=self._cut)
        geometry = {
            "mask_threshold": self._cut,
            "limb_threshold": self._limb_cut,
            "min_visibility": self.min_visibility,
            "arm_visibility": self.arm_visibility,
            "max_distance": self.max_distance,
            **self.geometry,
        }
        person = out.mask_logits > self._cut
        lm = self._map_landmarks(out, lm, person, image_size)
        core = pose_geometry.part_map(lm, out.mask_logits, **geometry)
        parts = mask.readmit(core, person, lm)  # mask.py
        self._cores[id(parts)] = (parts, core)  # the part-quality score's agreement is the core's
        if not parts.any():
            return None, "no person: the person mask lies off the skeleton"
        cues = self._cues(picture)
        contrast = cues.contrast(person)
        if contrast < self.min_contrast:
            return None, f"person mask not on image edges (contrast {contrast:.2f} < {self.min_contrast:.2f})"
        score = self.person_score(out)
        if score < self.doubt_score:  # a sure skeleton is a person even in grey on grey (docs: twelfth round)
            overlap = cues.colour_overlap(person)
            if overlap > self.max_colour_overlap:
                return None, (f"no person: person mask like its surroundings (colour overlap {overlap:.2f} > "
                              f"{self.max_colour_overlap:.2f}, person score {score:.2f})")
        return parts, ""

    @staticmethod
    def _in_mask(out: PoseOutput, w: int, h: int) -> np.ndarray:  # a pass's landmarks in its mask's pixels
        return subject.scaled(out.landmarks[:33], out.mask_logits.shape, (h, w))

    def _map_landmarks(self, out: PoseOutput, judged: np.ndarray, person: np.ndarray,
                       image_size: tuple[int, ...]) -> np.ndarray:
        """The landmarks a pass's map is drawn from (its mask's pixels; ``person`` is its person
        mask): those it was judged by (``movenet.MoveNetParser`` puts another model's keypoints in)."""
        return judged

    def _core(self, out: PoseOutput, w: int, h: int) -> np.ndarray:
        """A pass's body alone: its part map within ``core_distance`` radii of the bones."""
        lm = self._in_mask(out, w, h)
        geometry = {"mask_threshold": self._cut, "limb_threshold": self._limb_cut,
                    "min_visibility": self.min_visibility, "arm_visibility": self.arm_visibility,
                    **self.geometry, "max_distance": self.core_distance}
        return pose_geometry.part_map(lm, out.mask_logits, **geometry)

    def _run_model(self) -> PoseLandmarkModel:
        if self._model is None:
            raise RuntimeError("parser is closed")
        return self._model

    def _framed(self, im: np.ndarray, scale: float, mask_size: tuple[int, int]) -> PoseOutput:
        """One pass over the crop framed at ``scale`` (the most confident square of a wide frame)."""
        model = self._run_model()
        h, w = im.shape[:2]
        runs = [model.run(im, roi, mask_size) for roi in framing.crop_regions(h, w, scale)]
        return max(runs, key=lambda o: o.presence)

    def _mask_size(self, h: int, w: int) -> tuple[int, int]:
        """The size the maps are made at: the picture's, at most ``max_height`` high."""
        if self.max_height > 0 and h > self.max_height:
            return self.max_height, max(1, int(round(w * self.max_height / h)))
        return h, w

    def _find(self, im: np.ndarray) -> tuple[np.ndarray | None, str, str, PoseOutput | None]:
        """(parts at the mask's size or None, reason, source, the pass used): the passes above."""
        model = self._run_model()
        h, w = im.shape[:2]
        mask_size = self._mask_size(h, w)
        if self.tight_scale:
            # The person framed tight first: the landmarks (wrists, elbows) are located better on
            # a bigger person; believed only when sure, else the usual passes below decide.
            tight = self._framed(im, self.tight_scale, mask_size)
            parts, _ = self._judge(tight, im, self.tight_min_score)
            if parts is not None and (self.max_spill >= 1.0  # a share is at most 1: nothing to measure
                                      or subject.spill(parts, self._in_mask(tight, w, h)) <= self.max_spill):
                return self._closer(im, parts, tight, mask_size)
            self.stats["wide_pass"] += 1
        first = self._framed(im, self.scale, mask_size)
        parts, reason = self._judge(first, im)
        if parts is not None:
            return parts, "", "pose", first
        tried = [(first, reason)]
        if self.refine:
            roi = landmark_roi(first.landmarks, self.refine_scale)
            if roi is not None and roi[2] >= 0.05 * max(h, w):
                self.stats["second_pass"] += 1
                second = model.run(im, roi, mask_size)
                parts, reason = self._judge(second, im)
                if parts is not None:
                    return parts, "", "pose", second
                tried.append((second, reason))
            # The segmentation often outlines a small person the landmarks missed: frame it.
            best = max(tried, key=lambda t: t[0].presence)[0]
            roi = framing.mask_region(best.mask_logits > self._cut, (h, w), self.mask_scale,
                                      0.8 * self.scale * max(h, w))
            if roi is not None:
                self.stats["third_pass"] += 1
                third = model.run(im, roi, mask_size)
                parts, reason = self._judge(third, im)
                if parts is not None:
                    return parts, "", "pose", third
                tried.append((third, reason))
        refused = ""
        if self.silhouette_fallback:
            for out, _ in sorted(tried, key=lambda t: -t[0].presence):
                parts, why = self._silhouette(out, im)
                if parts is not None:
                    return parts, "", "silhouette", out
                refused = refused or why
        # The reason of the most confident pass: the one that came nearest to a person.
        out, reason = max(tried, key=lambda t: t[0].presence)
        return None, f"{reason}; standing silhouette refused: {refused}" if refused else reason, "", out

    def parse(self, rgb: np.ndarray) -> ParseResult:
        """Parse one H x W x 3 uint8 RGB image (grey and RGBA are accepted and converted).

        Returns ``ParseResult(parts, "", source, score, quality)`` with an H x W uint8 map (0
        background .. 6 lower legs), ``source`` "pose" or "silhouette", ``score`` the pose presence
        score and ``quality`` the map's part-quality score (``quality.part_quality``); or
        ``ParseResult(None, reason, "", score)`` when no plausible person is found.
        """
        if self._model is None:
            raise RuntimeError("parser is closed")
        im = as_rgb(rgb)
        self.stats["images"] += 1
        h, w = im.shape[:2]
        if min(h, w) < self.min_size or h < self.min_height:
            return ParseResult(None, f"no person: image {w} x {h} px, a person needs {self.min_height} px "
                                     f"of height and {self.min_size} of width")
        top, bottom, left, right = framing.content_box(im) if self.trim else (0, h, 0, w)
        self.stats["trimmed"] += (top, bottom, left, right) != (0, h, 0, w)
        picture = im[top:bottom, left:right]
        ph, pw = picture.shape[:2]
        if min(ph, pw) < self.min_size or ph < self.min_height:
            return ParseResult(None, f"no person: picture {pw} x {ph} px, a person needs {self.min_height} px "
                                     f"of height and {self.min_size} of width")
        picture = np.ascontiguousarray(picture)
        # The person detector on a miss or a borderline map (``judging.PassJudging._ask_detector``).
        parts, reason, source, out, quality = self._ask_detector(picture, *self._parse_picture(picture))
        parts, out, quality = self._from_bottom(picture, parts, source, out, quality)  # subject_passes.py
        self._picture_cues = None
        self._cores.clear()
        score = out.presence if out is not None else 0.0
        if parts is None or out is None:
            return ParseResult(None, reason, "", score)
        self.stats[source] += 1
        return ParseResult(framing.place(parts, (top, bottom, left, right), (h, w)), "", source, score, quality)

    def quality(self, parts: np.ndarray, out: PoseOutput) -> float | None:
        """``quality.part_quality`` of a pass's map, its person mask and its person score. The
        agreement with the mask is measured on the map before ``mask.readmit`` gave it mask pixels
        (a map grown towards the mask would agree with it by construction)."""
        kept = self._cores.get(id(parts))
        core = kept[1] if kept is not None and kept[0] is parts else None
        return part_quality(parts, self.person_score(out), out.mask_logits > self._cut, agreement_map=core)

    def close(self) -> None:
        """Release the interpreter (the parser cannot parse afterwards)."""
        model, self._model = self._model, None
        if model is not None:
            model.close()
        if self._detector is not None:
            self._detector.close()

    def __enter__(self) -> DirectParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
