"""A test parser that stops in the middle of a run, so a test can kill or signal the run's
processes at a known point without guessing with sleeps."""

from __future__ import annotations

import os
import signal

from parsers import BoxParser


class BlockingParser(BoxParser):
    """``BoxParser``; with ``OCCREID_TEST_BLOCK_AFTER=N`` and ``OCCREID_TEST_BLOCK_DIR=DIR`` its
    N-th parse in each process writes the process id as a file in DIR and then waits for a signal
    forever (the run is then stuck until the test kills or signals it)."""

    name = "blocking"

    def parse(self, rgb):
        after = int(os.environ.get("OCCREID_TEST_BLOCK_AFTER", "0"))
        if after and self.calls + 1 >= after:
            folder = os.environ["OCCREID_TEST_BLOCK_DIR"]
            with open(os.path.join(folder, f"{os.getpid()}.tmp"), "w") as fh:
                fh.write(str(os.getppid()))
            os.replace(os.path.join(folder, f"{os.getpid()}.tmp"), os.path.join(folder, str(os.getpid())))
            while True:
                signal.pause()
        return super().parse(rgb)
