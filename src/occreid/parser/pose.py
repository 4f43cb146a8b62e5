"""MediaPipe's pose landmark model run directly on a region of interest, through Google's LiteRT.

``pose_landmark_full.tflite`` ships inside the ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/pose_landmark/``); it is found there without importing ``mediapipe`` (an
import that costs time and memory in every worker) and run by ``ai_edge_litert``'s interpreter,
one thread per worker process.

What the model takes and gives (facts from MediaPipe's own graphs, ``pose_landmark_by_roi_cpu``
and ``tensors_to_pose_landmarks_and_segmentation``):

- input: one 256 x 256 RGB float image in [0, 1], the region of interest letterboxed into it;
- ``Identity`` (1 x 195): 39 landmarks x (x, y, z, visibility logit, presence logit), x and y in
  pixels of the 256 x 256 input; 0..32 are the 33 body landmarks, 33 the hip centre and 34 a point
  above the head (MediaPipe's next region is centred on 33 with a side of 3 x |34 - 33|);
- ``Identity_1`` (1 x 1): the pose presence score, already a probability (MediaPipe keeps a pose
  when it exceeds 0.5);
- ``Identity_2`` (1 x 256 x 256 x 1): the person segmentation, logits (sigmoid > 0.5 is person);
- ``Identity_3`` (1 x 64 x 64 x 39): heatmaps (logits), which MediaPipe uses to refine each landmark
  to the sigmoid-weighted mean position in a 7 x 7 window when the window's peak reaches 0.5;
- ``Identity_4``: world landmarks (metres), not used here.

The region of interest is an axis-aligned square (centre, side) in image pixels; the pure functions
below map it to the 256 x 256 input (an affine matrix) and the outputs back to the image.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stderr import filtered_stderr

#: Side of the model's square input, in pixels.
INPUT_SIZE = 256
#: Side of the heatmaps.
HEATMAP_SIZE = 64
#: Landmarks the model outputs (33 body landmarks, then auxiliary ones).
NUM_OUTPUT_LANDMARKS = 39
#: The auxiliary landmarks MediaPipe derives the next region from: hip centre, a point above the head.
ROI_CENTRE, ROI_SCALE = 33, 34


def wheel_model(relpath: str, what: str) -> Path:
    """Where the model file ``relpath`` (under ``mediapipe/``) lies inside the installed
    ``mediapipe`` wheel, found without importing mediapipe; RuntimeError with one sentence naming
    ``what`` when it is not there."""
    spec = importlib.util.find_spec("mediapipe")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root) / relpath
        if path.is_file():
            return path
    raise RuntimeError(f"{what} was not found: install mediapipe==0.10.21, whose wheel ships mediapipe/{relpath}")


def model_path() -> Path:
    """Where ``pose_landmark_full.tflite`` lies inside the installed ``mediapipe`` wheel."""
    return wheel_model("modules/pose_landmark/pose_landmark_full.tflite", "the pose landmark model")


# ------------------------------------------------------------------------------------------------
# Pure geometry of a region of interest
# ------------------------------------------------------------------------------------------------


def roi_matrix(cx: float, cy: float, side: float, size: int = INPUT_SIZE) -> np.ndarray:
    """The 2 x 3 affine matrix mapping image pixels to the model's input: the square of ``side``
    pixels centred on (``cx``, ``cy``) onto ``size`` x ``size`` (pixel-centre convention of
    OpenCV's ``warpAffine``, which samples input pixel (u, v) at M @ (x, y, 1))."""
    if not side > 0:
        raise ValueError(f"the region's side must be > 0, got {side}")
    k = size / side
    # Pixel centres: image x + 0.5 maps to (x + 0.5 - cx) * k + size / 2, i.e. u + 0.5.
    return np.array([[k, 0.0, size / 2 - k * cx + 0.5 * k - 0.5], [0.0, k, size / 2 - k * cy + 0.5 * k - 0.5]])


def crop_roi(height: int, width: int, scale: float) -> tuple[float, float, float]:
    """The region a person crop is run as: centred on the crop, a square ``scale`` times its
    longer side (MediaPipe grows a detector's box by 1.25 the same way)."""
    return width / 2.0, height / 2.0, scale * max(height, width)


def landmark_roi(landmarks: np.ndarray, scale: float = 1.5) -> tuple[float, float, float] | None:
    """The region MediaPipe derives from a first pass's auxiliary landmarks (39 x >= 2, image
    pixels): centred on the hip centre (33), a square of side 2 x ``scale`` x the distance to the
    point above the head (34). None when the landmarks do not define one."""
    lm = np.asarray(landmarks, dtype=np.float64)
    centre, top = lm[ROI_CENTRE, :2], lm[ROI_SCALE, :2]
    side = 2.0 * scale * float(np.hypot(*(top - centre)))
    if not (np.all(np.isfinite(centre)) and np.isfinite(side)) or side < 1.0:
        return None
    return float(centre[0]), float(centre[1]), side


def mask_roi(person: np.ndarray, scale: float = 1.25) -> tuple[float, float, float] | None:
    """A region framing a person mask (boolean H x W, image pixels): centred on the box around
    its pixels, a square ``scale`` x the box's longer side. None for an empty mask."""
    m = np.asarray(person, dtype=bool)
    rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
    if len(rows) == 0:
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, scale * float(max(y1 - y0, x1 - x0))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large logits."""
    x = np.asarray(x, dtype=np.float32)
    return (0.5 * (np.tanh(0.5 * x) + 1.0)).astype(np.float32)


def refine_with_heatmaps(
    xy: np.ndarray, heatmaps: np.ndarray, kernel: int = 7, min_peak: float = 0.5, peaks: np.ndarray | None = None
) -> np.ndarray:
    """MediaPipe's landmark refinement: each landmark (x, y in input pixels, ``INPUT_SIZE`` wide)
    moves to the sigmoid-weighted mean cell of its heatmap in a ``kernel`` x ``kernel`` window
    around it (cells outside the heatmap weigh 0), when the window's largest sigmoid reaches
    ``min_peak``. ``heatmaps`` is 64 x 64 x N logits; landmarks outside the heatmap are kept.
    ``peaks`` (length N, optional) receives each window's largest sigmoid (0 outside the heatmap):
    how sure the model is of each landmark, which a hallucinated skeleton is not."""
    hm = np.asarray(heatmaps, dtype=np.float32)
    hh, hw, n = hm.shape
    out = np.array(xy, dtype=np.float64, copy=True)
    n = min(n, len(out))
    half = (kernel - 1) // 2
    with np.errstate(invalid="ignore"):
        col = np.floor(out[:n, 0] / INPUT_SIZE * hw)
        row = np.floor(out[:n, 1] / INPUT_SIZE * hh)
    inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < hw) & (row >= 0) & (row < hh)
    idx = np.nonzero(inside)[0]
    if len(idx) == 0:
        return out
    col, row = col[idx].astype(np.int64), row[idx].astype(np.int64)
    offsets = np.arange(-half, half + 1)
    rows = row[:, None, None] + offsets[None, :, None]  # k x kernel x 1
    cols = col[:, None, None] + offsets[None, None, :]  # k x 1 x kernel
    valid = (rows >= 0) & (rows < hh) & (cols >= 0) & (cols < hw)
    conf = sigmoid(hm[np.clip(rows, 0, hh - 1), np.clip(cols, 0, hw - 1), idx[:, None, None]])
    conf = np.where(valid, conf, np.float32(0.0))
    total = conf.sum(axis=(1, 2))
    peak = conf.max(axis=(1, 2))
    ok = (total > 0) & (peak >= min_peak)
    rows_b, cols_b = np.broadcast_arrays(rows, cols)
    mean_col = (cols_b * conf).sum(axis=(1, 2)) / np.where(total > 0, total, 1)
    mean_row = (rows_b * conf).sum(axis=(1, 2)) / np.where(total > 0, total, 1)
    out[idx[ok], 0] = mean_col[ok] / hw * INPUT_SIZE
    out[idx[ok], 1] = mean_row[ok] / hh * INPUT_SIZE
    if peaks is not None:
        peaks[:] = 0.0
        peaks[idx] = peak
    return out


def to_image(xy: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Model-input pixel coordinates (N x 2, continuous, 0..256 across the input) back to image
    pixels (continuous: 0..W across the image), through the inverse of ``roi_matrix``."""
    m = np.asarray(matrix, dtype=np.float64)
    k, tx, ty = m[0, 0], m[0, 2], m[1, 2]
    xy = np.asarray(xy, dtype=np.float64)
    # continuous input coordinate u relates to pixel index u - 0.5; invert u - 0.5 = k (x - 0.5) + t.
    return np.stack([(xy[:, 0] - 0.5 - tx) / k + 0.5, (xy[:, 1] - 0.5 - ty) / k + 0.5], axis=1)


# ------------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseOutput:
    """One run of the landmark model, mapped back to the image it was run on.

    ``landmarks``: 39 x 3 (x, y in image pixels, continuous; visibility in [0, 1]); ``presence``:
    the pose presence score; ``mask_logits``: float32 person-segmentation logits over the whole
    image (0 is MediaPipe's 0.5), at the image's size or the ``mask_size`` asked for; ``roi``: the
    (cx, cy, side) region it was run on.
    """

    landmarks: np.ndarray
    presence: float
    mask_logits: np.ndarray
    roi: tuple[float, float, float]
    #: each landmark's heatmap peak (0..1, ``refine_with_heatmaps``); None without refinement.
    peaks: np.ndarray | None = None
    #: the 64 x 64 x 39 heatmap logits (how spread each landmark's evidence is); None without refinement.
    heatmaps: np.ndarray | None = None


class PoseLandmarkModel:
    """``pose_landmark_full.tflite`` in a LiteRT interpreter with ``threads`` threads (1: one
    interpreter per worker process is the unit of parallelism). ``run(rgb, roi)`` letterboxes the
    region into the input (edge pixels replicated outside the image, as MediaPipe does), runs one
    inference and maps landmarks and mask back to the image."""

    def __init__(self, threads: int = 1, path: str | os.PathLike | None = None, refine: bool = True) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        import cv2
        from ai_edge_litert.interpreter import Interpreter

        self._cv2 = cv2
        self.path = Path(path) if path is not None else model_path()
        self.refine = bool(refine)
        with filtered_stderr():  # LiteRT announces its XNNPACK delegate on stderr
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=int(threads))
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        try:
            self._out = [outputs[f"Identity{s}"] for s in ("", "_1", "_2", "_3")]
        except KeyError as exc:
            raise RuntimeError(f"{self.path} is not MediaPipe's pose landmark model (no output {exc})") from None
        self._buffer = np.empty((1, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)

    def letterbox(self, rgb: np.ndarray, roi: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """The model's 256 x 256 uint8 input for ``roi`` of ``rgb`` and the matrix that made it.
        Large shrinks go through an area resize first (no aliasing)."""
        cv2 = self._cv2
        cx, cy, side = roi
        matrix = roi_matrix(cx, cy, side)
        src, pre = rgb, 1.0
        if side > 2.5 * INPUT_SIZE:
            pre = 2.0 * INPUT_SIZE / side
            h, w = rgb.shape[:2]
            size = (max(1, round(w * pre)), max(1, round(h * pre)))
            src = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            sx, sy = size[0] / w, size[1] / h
            inner = roi_matrix(cx * sx, cy * sy, side * sx)
            out = cv2.warpAffine(src, inner, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
            return out, matrix
        out = cv2.warpAffine(src, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        return out, matrix

    def infer(self, square: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray | None]:
        """One inference on a 256 x 256 x 3 uint8 input: raw landmarks (39 x 5), presence,
        segmentation logits (256 x 256) and heatmaps (64 x 64 x 39; None without ``refine``)."""
        np.multiply(square, np.float32(1.0 / 255.0), out=self._buffer[0], casting="unsafe")
        it = self._interpreter
        it.set_tensor(self._input, self._buffer)
        it.invoke()
        raw = it.get_tensor(self._out[0]).reshape(NUM_OUTPUT_LANDMARKS, 5).astype(np.float64)
        presence = float(it.get_tensor(self._out[1]).reshape(-1)[0])
        seg = np.array(it.get_tensor(self._out[2])[0, :, :, 0], dtype=np.float32)
        heat = it.get_tensor(self._out[3])[0] if self.refine else None
        return raw, presence, seg, heat

    def run(
        self, rgb: np.ndarray, roi: tuple[float, float, float], mask_size: tuple[int, int] | None = None
    ) -> PoseOutput:
        """Run the model on ``roi`` of the H x W x 3 uint8 ``rgb``. ``mask_size`` (h, w) gives the
        mask at another size than the image's (the same field of view), to bound its cost."""
        cv2 = self._cv2
        h, w = rgb.shape[:2]
        square, matrix = self.letterbox(rgb, roi)
        raw, presence, seg, heat = self.infer(square)
        xy = raw[:, :2]
        peaks = None
        if heat is not None:
            peaks = np.zeros(NUM_OUTPUT_LANDMARKS)
            xy = refine_with_heatmaps(xy, heat, peaks=peaks)
        lm = np.empty((NUM_OUTPUT_LANDMARKS, 3))
        lm[:, :2] = to_image(xy, matrix)
        lm[:, 2] = sigmoid(raw[:, 3])
        mh, mw = mask_size if mask_size is not None else (h, w)
        back = matrix.copy()
        if (mh, mw) != (h, w):
            # The mask's pixel grid is the image's scaled by (mw / w, mh / h).
            sx, sy = mw / w, mh / h
            scale = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
            back = (np.vstack([matrix, [0, 0, 1]]) @ scale)[:2]
        mask = cv2.warpAffine(seg, back, (mw, mh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=-20.0)
        return PoseOutput(lm, presence, mask, roi, peaks, heat)

    def close(self) -> None:
        """Drop the interpreter."""
        self._interpreter = None
