"""SCHP's pre- and post-processing as pure functions (numpy + OpenCV, no torch).

Single scale, no flip, as in SCHP's ``simple_extractor``:

* the whole image is centred at ``c = ((w-1)/2, (h-1)/2)`` and its scale padded to a square,
  ``s = max(w-1, h-1)``; an affine warp maps ``c`` to ``((n-1)/2, (n-1)/2)`` with scale
  ``(n-1)/s`` (n = 512 for the Pascal model), bilinear, black border, so the aspect ratio is kept;
* the BGR image is scaled to [0, 1] and normalised with ImageNet statistics in BGR order;
* the network's logits, upsampled to n x n, are warped back to w x h with the inverse affine and
  the argmax is the label map.
"""

from __future__ import annotations

import cv2
import numpy as np

#: ImageNet mean and std in BGR order (SCHP feeds OpenCV's BGR images).
MEAN_BGR = np.array([0.406, 0.456, 0.485], dtype=np.float32)
STD_BGR = np.array([0.225, 0.224, 0.229], dtype=np.float32)
INPUT_SIZE = 512


def center_scale(width: int, height: int) -> tuple[tuple[float, float], float]:
    """SCHP's box of the whole image: centre ``((w-1)/2, (h-1)/2)``, square scale ``max(w-1, h-1)``."""
    if width < 1 or height < 1:
        raise ValueError(f"empty image ({width}x{height})")
    return ((width - 1) * 0.5, (height - 1) * 0.5), float(max(width - 1, height - 1, 1))


def warp_matrix(width: int, height: int, input_size: int = INPUT_SIZE) -> np.ndarray:
    """2x3 affine (float64) taking image pixel coordinates to network-input coordinates."""
    (cx, cy), s = center_scale(width, height)
    half = (input_size - 1) * 0.5
    k = (input_size - 1) / s
    return np.array([[k, 0.0, half - k * cx], [0.0, k, half - k * cy]], dtype=np.float64)


def inverse_warp_matrix(width: int, height: int, input_size: int = INPUT_SIZE) -> np.ndarray:
    """2x3 affine (float64) taking network-input coordinates back to image coordinates."""
    (cx, cy), s = center_scale(width, height)
    half = (input_size - 1) * 0.5
    k = s / (input_size - 1)
    return np.array([[k, 0.0, cx - k * half], [0.0, k, cy - k * half]], dtype=np.float64)


def warp_to_input(image: np.ndarray, input_size: int = INPUT_SIZE,
                  interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp an H x W (x C) image into the ``input_size`` square (aspect kept, black border)."""
    h, w = image.shape[:2]
    return cv2.warpAffine(
        np.ascontiguousarray(image),
        warp_matrix(w, h, input_size),
        (input_size, input_size),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,  # type: ignore[call-overload]  # cv2's stubs want a Scalar tuple; 0 is the same Scalar
    )


def warp_back(maps: np.ndarray, width: int, height: int,
              interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp an n x n (x C) array (logits, labels) back to the original ``height x width``.

    Float logits of any channel count; OpenCV warps them all in one call.
    """
    n = maps.shape[0]
    if maps.shape[1] != n:
        raise ValueError(f"expected a square network-space map, got {maps.shape}")
    out = cv2.warpAffine(
        np.ascontiguousarray(maps),
        inverse_warp_matrix(width, height, n),
        (int(width), int(height)),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,  # type: ignore[call-overload]  # cv2's stubs want a Scalar tuple; 0 is the same Scalar
    )
    if maps.ndim == 3 and out.ndim == 2:  # OpenCV drops a trailing channel axis of size 1
        out = out[:, :, None]
    return out


def normalise_bgr(bgr: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 BGR -> 3 x H x W float32, scaled to [0, 1] and normalised (SCHP's ToTensor +
    Normalize)."""
    x = bgr.astype(np.float32) * (1.0 / 255.0)
    x = (x - MEAN_BGR) / STD_BGR
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_rgb(rgb: np.ndarray, input_size: int = INPUT_SIZE) -> np.ndarray:
    """RGB uint8 image -> warped BGR uint8 ``input_size`` square (normalisation is done later, on
    the device, to move 4x fewer bytes)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return warp_to_input(rgb[:, :, ::-1], input_size)


def labels_from_logits(logits_hwc: np.ndarray, width: int, height: int) -> np.ndarray:
    """n x n x C logits (already upsampled to the input size) -> H x W uint8 label map."""
    back = warp_back(logits_hwc.astype(np.float32, copy=False), width, height)
    return np.argmax(back, axis=2).astype(np.uint8)
