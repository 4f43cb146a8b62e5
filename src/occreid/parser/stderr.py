"""MediaPipe and LiteRT print routine messages on the process's stderr (file descriptor 2, below
Python's ``sys.stderr``); ``filtered_stderr`` hides those and lets every other line through."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: stderr lines MediaPipe / TFLite print on every run that say nothing useful to a user.
_NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ (inference_feedback_manager|landmark_projection_calculator"
    rb"|gl_context|face_landmarker_graph)\.cc:\d+\])"
)


class _StderrFilter:
    """Routes file descriptor 2 to a temporary file while MediaPipe runs, then re-emits every line
    that is not known MediaPipe noise. Real errors and warnings still reach stderr (slightly
    later); Python exceptions are unaffected. Process-wide and thread-safe: nested or concurrent
    users share one redirection, undone when the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = -1
        self._fd = -1

    def enter(self) -> bool:
        with self._lock:
            if self._depth == 0:
                try:
                    if self._fd < 0:
                        with tempfile.TemporaryFile() as tmp:
                            self._fd = os.dup(tmp.fileno())
                    sys.stderr.flush()
                    self._saved = os.dup(2)
                    os.dup2(self._fd, 2)
                except (OSError, ValueError, AttributeError):
                    return False
            self._depth += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0:
                return
            os.dup2(self._saved, 2)
            os.close(self._saved)
            size = os.lseek(self._fd, 0, os.SEEK_CUR)
            if not size:
                return
            os.lseek(self._fd, 0, os.SEEK_SET)
            chunks = []
            while size > 0:
                chunk = os.read(self._fd, size)
                if not chunk:
                    break
                chunks.append(chunk)
                size -= len(chunk)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.ftruncate(self._fd, 0)
        lines = b"".join(chunks).splitlines(keepends=True)
        kept = b"".join(line for line in lines if not _NOISE.match(line))
        if kept:
            os.write(2, kept)


_STDERR_FILTER = _StderrFilter()


@contextmanager
def filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """Hide MediaPipe's routine stderr messages meanwhile (see ``_StderrFilter``)."""
    if not enabled or not _STDERR_FILTER.enter():
        yield
        return
    try:
        yield
    finally:
        _STDERR_FILTER.leave()
