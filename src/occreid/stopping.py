"""Stopping a command from outside: SIGTERM (``kill PID``, a scheduler's time limit) ends a
command that writes as Ctrl-C does. The run state is committed up to the last finished chunk, the
worker processes are ended (they also die with the main process on their own: ``engines.py``), one
line is printed and the exit code is 143 (128 + 15, as a shell reports a SIGTERM) instead of 130."""

from __future__ import annotations

import contextlib
import signal

TERMINATED_LINE = "terminated (SIGTERM); what finished is kept: rerun the same command to resume."


class Terminated(KeyboardInterrupt):
    """SIGTERM received: the run stops as on Ctrl-C (the chunks in flight are the only loss)."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_stops():
    """While the block runs, SIGTERM raises ``Terminated`` in the main thread (a KeyboardInterrupt:
    every clean-up Ctrl-C runs, runs). The previous handler is restored after it."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave the signal as it is
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
