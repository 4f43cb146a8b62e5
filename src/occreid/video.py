"""Real pedestrian crops from a surveillance video, with OpenCV's built-in HOG people detector.

A fresh machine has no re-ID dataset; OpenCV's sample video ``vtest.avi`` (Debian's ``opencv-doc``
package) shows real people walking, and the HOG detector ships inside OpenCV, so this makes a
folder of real crops with nothing downloaded at run time.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import EXIT_UNUSABLE, OccreidError


class VideoError(OccreidError, ValueError):
    """The file is not a video OpenCV can read (missing, empty, not a regular file, another format)."""


class NoPersonFound(OccreidError, ValueError):
    """The video was read but the detector found no person in it (exit 1: the input was unusable)."""

    exit_code = EXIT_UNUSABLE


def _check_video_file(video: Path) -> None:
    try:
        st = os.stat(video)
    except OSError as exc:
        raise VideoError(f"cannot read the video {video}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise VideoError(f"{video} is not a regular file; give a video file (e.g. vtest.avi).")
    if st.st_size == 0:
        raise VideoError(f"{video} is empty (0 bytes); give a video file (e.g. vtest.avi).")


def crops_from_video(video: Path, out_dir: Path, every: int = 10, min_height: int = 96,
                     min_score: float = 0.5, max_frames: int | None = None) -> list[Path]:
    """Detect people in every ``every``-th frame and save each box as ``out_dir/FFFFFF_NN.jpg``.

    Boxes shorter than ``min_height`` px or scored below ``min_score`` are dropped. Returns the
    files written. Deterministic for a given video and OpenCV build. VideoError (one sentence)
    when the file is not a video OpenCV can read, NoPersonFound when no box is kept; OSError when
    the crops cannot be written.
    """
    import cv2
    import numpy as np

    _check_video_file(Path(video))  # never hand a FIFO or an empty file to the decoder
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise VideoError(f"{video} is not a video OpenCV can read (no decoder for it).")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))  # (an array already)
    out_dir = Path(out_dir)
    written: list[Path] = []
    index = 0
    while max_frames is None or index < max_frames:
        ok, frame = cap.read()
        if not ok:
            if index == 0:
                cap.release()
                raise VideoError(f"{video} is not a video OpenCV can read (no frame could be decoded).")
            break
        if index % every == 0:
            boxes, scores = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
            kept = [(b, float(s)) for b, s in zip(boxes, list(scores)) if b[3] >= min_height and float(s) >= min_score]
            for n, ((x, y, w, h), _) in enumerate(sorted(kept, key=lambda t: (t[0][0], t[0][1]))):
                x0, y0 = max(0, x), max(0, y)
                crop = frame[y0 : y + h, x0 : x + w]
                path = out_dir / f"{index:06d}_{n:02d}.jpg"
                out_dir.mkdir(parents=True, exist_ok=True)  # made with the first crop: nothing for a bad video
                ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise OSError(f"OpenCV cannot encode {path.name}")
                path.write_bytes(data.tobytes())  # OSError (disk full...) instead of imwrite's silent False
                written.append(path)
        index += 1
    cap.release()
    if not written:
        raise NoPersonFound(f"no person found in {video} ({index} frames read, every {every}-th searched, boxes of at "
                            f"least {min_height} px): no crop written.")
    return written
