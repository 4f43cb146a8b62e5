"""occreid's errors: one base, ``OccreidError``, that carries the README's exit code.

Every error a user can cause (a wrong option, a dataset occreid cannot read, an output it cannot
write) is an ``OccreidError`` whose message is one sentence saying what to do. The command group
(``cli._Main``) is the one place that turns it into ``error: <sentence>`` and ``exit_code``; with
``occreid --debug`` it prints the traceback first, for maintainers. Each error keeps a built-in
base too (``ValueError``, ``RuntimeError``, ``OSError``) so library callers that catch those still
catch it.
"""

from __future__ import annotations

#: Exit codes (README "Exit codes"): all done, some inputs unusable, usage/configuration, output, interrupted.
#: Interrupted is Ctrl-C or a worker killed; terminated is SIGTERM (``kill PID``, a scheduler), 128 + 15 as a shell
#: reports it.
EXIT_OK, EXIT_UNUSABLE, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143


class OccreidError(Exception):
    """An error a user can cause, with its one-sentence message; ``exit_code`` is the README's code
    (2, usage or configuration, unless the subclass says otherwise)."""

    exit_code: int = EXIT_USAGE


class OutputFailure(OccreidError):
    """Base of the errors that mean an output cannot be written (full disk, read-only, no
    permission): exit 3, and what finished is kept."""

    exit_code = EXIT_OUTPUT
