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

import importlib.util
import os
from pathlib import Path

import numpy as np

from .stderr import filtered_stderr

#: Side of the detector's square input, in pixels.
INPUT_SIZE = 224
#: SSD anchors the model scores (MediaPipe's SsdAnchorsCalculator: strides 8, 16, 32, 32, 32).
NUM_ANCHORS = 2254


def model_path() -> Path:
    """Where ``pose_detection.tflite`` lies inside the installed ``mediapipe`` wheel (found without
    importing mediapipe); RuntimeError with one sentence when it is not there."""
    spec = importlib.util.find_spec("mediapipe")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root) / "modules" / "pose_detection" / "pose_detection.tflite"
        if path.is_file():
            return path
    raise RuntimeError(
        "the person detector was not found: install mediapipe==0.10.21, whose wheel ships "
        "mediapipe/modules/pose_detection/pose_detection.tflite"
    )


def framed(rgb: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The picture as the detector's 224 x 224 float32 input in [-1, 1]: ``scale`` None fits it
    whole (aspect kept, the rest 0, mid-grey, as MediaPipe's ``ImageToTensorCalculator`` pads for
    this model); a number centres it in a square ``scale`` x its longer side, edge pixels
    replicated outside it (the person smaller, in surroundings like the picture's own)."""
    import cv2

    h, w = rgb.shape[:2]
    side = float(max(h, w)) * (1.0 if scale is None else float(scale))
    k = INPUT_SIZE / side
    matrix = np.array([[k, 0.0, INPUT_SIZE / 2 - k * w / 2], [0.0, k, INPUT_SIZE / 2 - k * h / 2]])
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    if scale is None:
        out = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=interp, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=(128, 128, 128))
    else:
        out = cv2.warpAffine(rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return out.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


class PersonDetector:
    """``pose_detection.tflite`` in a LiteRT interpreter with ``threads`` threads. ``score(rgb)`` is
    the best anchor's score (0..1) over the picture: how sure the detector is that a person is in
    it; ``best_score`` tries the picture fitted whole and centred in a square twice its longer side
    (``framings``), and stops once one reaches ``enough``."""

    def __init__(self, threads: int = 1, path: str | os.PathLike | None = None,
                 framings: tuple[float | None, ...] = (None, 2.0), enough: float = 1.0) -> None:
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
        self.framings = tuple(framings)
        self.enough = float(enough)

    def score(self, rgb: np.ndarray, scale: float | None = None) -> float:
        """How sure the detector is that a person is in the H x W x 3 uint8 picture (0..1): the
        best anchor's score, the picture framed at ``scale`` (``framed``)."""
        if self._interpreter is None:
            raise RuntimeError("detector is closed")
        it = self._interpreter
        it.set_tensor(self._input, framed(rgb, scale)[None])
        it.invoke()
        best = float(np.max(it.get_tensor(self._scores)))
        return float(1.0 / (1.0 + np.exp(-np.clip(best, -100.0, 100.0))))

    def best_score(self, rgb: np.ndarray) -> float:
        """The best ``score`` over the ``framings`` (one run each, stopping at a sure one): a
        person filling the picture is seen best fitted whole, a small or cut-off one in wider
        surroundings."""
        best = 0.0
        for scale in self.framings:
            best = max(best, self.score(rgb, scale))
            if best >= self.enough:
                break
        return best

    def close(self) -> None:
        """Drop the interpreter."""
        self._interpreter = None
