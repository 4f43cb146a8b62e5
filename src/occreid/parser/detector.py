"""MediaPipe's person detector (BlazePose's ``pose_detection.tflite``) as a second opinion on a crop.

The pose landmark model always draws a skeleton, even on a parked van or a signpost, and its own
outputs (presence, heatmap peaks and spread, the segmentation) do not separate such skeletons from
weakly seen people (docs/part-quality.md). The person detector of MediaPipe's Pose graph is
another network, trained to find people in whole frames: it answers whether a body is in the
picture at all. It ships in the same ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/pose_detection/pose_detection.tflite``) and runs through the same LiteRT
interpreter, found without importing ``mediapipe``.

What the model takes and gives (MediaPipe's ``pose_detection_cpu`` graph):

- input: one 224 x 224 RGB float image in [-1, 1], the picture letterboxed into it (aspect kept,
  borders 0);
- ``Identity`` (1 x 2254 x 12): per SSD anchor a box (x and y centre offsets, width, height, in
  input pixels) and four keypoints (hip centre, a point that scales the whole body, shoulder
  centre, one that scales the upper body);
- ``Identity_1`` (1 x 2254 x 1): per anchor a score logit (MediaPipe clips it to +-100, applies the
  sigmoid and keeps detections above 0.5).

The detector keys on the head and upper body, so a person seen from behind scores lower than one
facing the camera; it is asked only about passes whose own evidence is borderline
(``direct.DirectParser``), which keeps both its cost and its misses on people small.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .pose import wheel_model
from .stderr import filtered_stderr

#: Side of the detector's square input, in pixels.
INPUT_SIZE = 224
#: SSD anchors: strides of the feature maps and anchors per cell (MediaPipe's SsdAnchorsCalculator
#: options for this model: 5 layers, strides 8, 16, 32, 32, 32, aspect ratio 1 plus the
#: interpolated scale, fixed anchor size; layers of one stride share a grid).
STRIDES = ((8, 2), (16, 2), (32, 6))
NUM_ANCHORS = 2254


def model_path() -> Path:
    """Where ``pose_detection.tflite`` lies inside the installed ``mediapipe`` wheel."""
    return wheel_model("modules/pose_detection/pose_detection.tflite", "the person detector")


def anchor_centres() -> np.ndarray:
    """The 2254 anchor centres (x, y in input pixels), in the model's output order."""
    out = []
    for stride, per_cell in STRIDES:
        n = INPUT_SIZE // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) * stride, (np.arange(n) + 0.5) * stride, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(out)


def body_roi(points: np.ndarray, scale: float = 1.25) -> tuple[float, float, float]:
    """The pose model's region for a detection (MediaPipe's ``pose_detection_to_roi``): centred on
    the hip centre (keypoint 0), a square of side 2 x ``scale`` x its distance to the body-scale
    point (keypoint 1); the rotation MediaPipe adds is left out (crops are upright)."""
    centre, top = points[0], points[1]
    return float(centre[0]), float(centre[1]), 2.0 * scale * float(np.hypot(*(top - centre)))


def framing_matrix(h: int, w: int, scale: float | None) -> np.ndarray:
    """The 2 x 3 matrix taking picture pixels to the detector's input (``framed``)."""
    k = INPUT_SIZE / (float(max(h, w)) * (1.0 if scale is None else float(scale)))
    return np.array([[k, 0.0, INPUT_SIZE / 2 - k * w / 2], [0.0, k, INPUT_SIZE / 2 - k * h / 2]])


def framed(rgb: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The picture as the detector's 224 x 224 float32 input in [-1, 1]: ``scale`` None fits it
    whole (aspect kept, the rest 0, mid-grey, as MediaPipe's ``ImageToTensorCalculator`` pads for
    this model); a number centres it in a square ``scale`` x its longer side, edge pixels
    replicated outside it (the person smaller, in surroundings like the picture's own)."""
    import cv2

    h, w = rgb.shape[:2]
    matrix = framing_matrix(h, w, scale)
    interp = cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR
    if scale is None:
        out = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=interp, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=(128, 128, 128))
    else:
        out = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return out.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


class PersonDetector:
    """``pose_detection.tflite`` in a LiteRT interpreter with ``threads`` threads. ``score(rgb)`` is
    the best anchor's score (0..1) over the picture: how sure the detector is that a person is in
    it; ``best_score`` tries the picture centred in squares 1.5 and 2.5 x its longer side
    (``framings``: the person smaller, in replicated surroundings, as the detector saw people in
    whole frames), and stops once one reaches ``enough``."""

    def __init__(self, threads: int = 1, path: str | os.PathLike | None = None,
                 framings: tuple[float | None, ...] = (1.5, 2.5), enough: float = 1.0) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path) if path is not None else model_path()
        with filtered_stderr():  # LiteRT announces its XNNPACK delegate on stderr
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=int(threads))
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: (d["index"], tuple(d["shape"])) for d in self._interpreter.get_output_details()}
        boxes, scores = outputs.get("Identity"), outputs.get("Identity_1")
        if boxes is None or scores is None or boxes[1] != (1, NUM_ANCHORS, 12):
            raise RuntimeError(f"{self.path} is not MediaPipe's person detector (outputs {sorted(outputs)})")
        self._boxes, self._scores = boxes[0], scores[0]
        self._centres = anchor_centres()
        self.framings = tuple(framings)
        self.enough = float(enough)

    def detect(self, rgb: np.ndarray, scale: float | None = None) -> tuple[float, np.ndarray]:
        """The best anchor over the H x W x 3 uint8 picture framed at ``scale`` (``framed``): its
        score (0..1) and its four keypoints (4 x 2, picture pixels: hip centre, body scale,
        shoulder centre, upper-body scale)."""
        if self._interpreter is None:
            raise RuntimeError("detector is closed")
        it = self._interpreter
        it.set_tensor(self._input, framed(rgb, scale)[None])
        it.invoke()
        logits = it.get_tensor(self._scores).reshape(-1)
        best = int(np.argmax(logits))
        score = float(1.0 / (1.0 + np.exp(-np.clip(float(logits[best]), -100.0, 100.0))))
        points = it.get_tensor(self._boxes)[0, best, 4:12].astype(np.float64).reshape(4, 2) + self._centres[best]
        m = framing_matrix(rgb.shape[0], rgb.shape[1], scale)
        return score, (points - m[:, 2]) / m[0, 0]

    def score(self, rgb: np.ndarray, scale: float | None = None) -> float:
        """How sure the detector is that a person is in the picture framed at ``scale`` (0..1)."""
        return self.detect(rgb, scale)[0]

    def best_score(self, rgb: np.ndarray) -> float:
        """The best ``score`` over the ``framings`` (one run each, stopping at ``enough``)."""
        best = 0.0
        for scale in self.framings:
            best = max(best, self.score(rgb, scale))
            if best >= self.enough:
                break
        return best

    def close(self) -> None:
        """Drop the interpreter."""
        self._interpreter = None
