"""How many CPU cores this process may use: the default number of workers, and what a parser's
threads are divided from. A module of its own, at the bottom of the package, because the CLI, the
engines, the workers, the SCHP parser, ``evaluate`` and ``bench`` all ask it, and none of them
should import another to learn it."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one): the default
    number of workers, and what SCHP's threads are divided from."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
