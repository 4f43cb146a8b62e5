"""Real pedestrian crops from a surveillance video, with OpenCV's built-in HOG people detector.

A fresh machine has no re-ID dataset; OpenCV's sample video ``vtest.avi`` (Debian's ``opencv-doc``
package) shows real people walking, and the HOG detector ships inside OpenCV, so this makes a
folder of real crops with nothing downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path


def crops_from_video(video: Path, out_dir: Path, every: int = 10, min_height: int = 96,
                     min_score: float = 0.5, max_frames: int | None = None) -> list[Path]:
    """Detect people in every ``every``-th frame and save each box as ``out_dir/FFFFFF_NN.jpg``.

    Boxes shorter than ``min_height`` px or scored below ``min_score`` are dropped. Returns the
    files written. Deterministic for a given video and OpenCV build.
    """
    import cv2

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = 0
    while max_frames is None or index < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        if index % every == 0:
            boxes, scores = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
            kept = [(b, float(s)) for b, s in zip(boxes, list(scores)) if b[3] >= min_height and float(s) >= min_score]
            for n, ((x, y, w, h), _) in enumerate(sorted(kept, key=lambda t: (t[0][0], t[0][1]))):
                x0, y0 = max(0, x), max(0, y)
                crop = frame[y0 : y + h, x0 : x + w]
                path = out_dir / f"{index:06d}_{n:02d}.jpg"
                cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
                written.append(path)
        index += 1
    cap.release()
    if not written:
        raise ValueError(f"no person found in {video}")
    return written
