"""Test parsers with known outputs, loadable by worker processes as ``parsers:Name``.

``BoxParser`` labels fixed boxes of every image (a stand-up figure) so runner tests need no model;
the real MediaPipe parser is exercised by the tests that run it on real crops.
"""

from __future__ import annotations

import os
import signal

import numpy as np

from occreid import runner
from occreid.parser import Parser, ParseResult


def _kill_at(phase: str) -> None:
    """``OCCREID_TEST_KILL_AT=phase`` kills the run's main process (SIGKILL) at that phase of
    ``runner.generate``, like a kill -9; ``OCCREID_TEST_SIGINT_AT=phase`` sends it SIGINT (Ctrl-C)
    there instead, e.g. right after the first chunk is committed while the workers are mid-chunk (a
    run that names one of these parsers loads this module in its main process before the first phase)."""
    if os.environ.get("OCCREID_TEST_KILL_AT") == phase:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("OCCREID_TEST_SIGINT_AT") == phase:
        os.kill(os.getpid(), signal.SIGINT)


if _kill_at not in runner.PHASE_HOOKS:
    runner.PHASE_HOOKS.append(_kill_at)


class BoxParser(Parser):
    """A figure made of boxes: head, torso, upper legs, lower legs (no arms). A uniform image
    (all pixels equal) has no person. ``OCCREID_TEST_KILL_AFTER=N`` kills the process at the
    N-th parse, like a kill -9 in the middle of a run; ``OCCREID_TEST_SIGINT_AFTER=N`` sends SIGINT
    (Ctrl-C) to the parsing process instead (with one worker, the run's main process);
    ``OCCREID_TEST_FILL_AT=N`` with ``OCCREID_TEST_FILL_PATH=FILE`` fills FILE's file system at the
    N-th parse, as another program filling the disk during a run would; ``OCCREID_TEST_NO_PARSE=1``
    makes any parse fail, which proves a run reused saved part maps."""

    name = "box"

    def __init__(self):
        self.calls = 0
        self.kill_after = int(os.environ.get("OCCREID_TEST_KILL_AFTER", "0"))

    def parse(self, rgb):
        self.calls += 1
        if os.environ.get("OCCREID_TEST_NO_PARSE"):
            raise AssertionError("the parser was called although part maps were saved")
        if self.kill_after and self.calls >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.calls == int(os.environ.get("OCCREID_TEST_SIGINT_AFTER", "0")):
            os.kill(os.getpid(), signal.SIGINT)
        if self.calls == int(os.environ.get("OCCREID_TEST_FILL_AT", "0")):
            _fill(os.environ["OCCREID_TEST_FILL_PATH"])
        if rgb.min() == rgb.max():
            return ParseResult(None, "uniform image")
        h, w = rgb.shape[:2]
        m = np.zeros((h, w), np.uint8)
        x0, x1 = w // 4, 3 * w // 4
        m[h // 16 : h // 6, 3 * w // 8 : 5 * w // 8] = 1
        m[h // 6 : h // 2, x0:x1] = 2
        m[h // 2 : 3 * h // 4, x0:x1] = 5
        m[3 * h // 4 : 15 * h // 16, x0:x1] = 6
        return ParseResult(m, "")


class BrokenInitParser(Parser):
    """A plugin whose constructor fails (a missing model file): refused before the first image."""

    name = "broken"

    def __init__(self):
        raise FileNotFoundError("model.bin not found")


class WrongShapeParser(Parser):
    """A plugin that returns a part map of the wrong size: each image gets an error row, no traceback."""

    name = "wrongshape"

    def parse(self, rgb):
        return ParseResult(np.ones((3, 3), np.uint8), "")


def _fill(path: str) -> None:
    """Write zeros to ``path`` until its file system is full."""
    block = b"\0" * 65536
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError:
            pass
        try:
            while True:
                fh.write(b"\0")
        except OSError:
            pass
