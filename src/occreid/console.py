"""How the command line talks: its two consoles, its exit codes, and its one error line.

People read occreid's output in a terminal; logs, CI and ``| tee`` read it from a pipe or a file.
A terminal gets rich's colours, borderless tables at its width and live progress bars. A pipe or a
file gets plain lines that rich never wraps (a wrapped line breaks a path or a number in two and
hides it from grep): no colour codes, tables at their natural width, progress as a plain line
every few seconds. ``NO_COLOR`` (https://no-color.org) turns colour off in a terminal too; rich
reads it itself. Console markup is off, so a path holding ``[`` prints as it is (and a ``[/x]`` in
it cannot stop a command): style with ``rich.text.Text`` instead of ``[bold]`` tags.

Every command ends an error the same way: ``fail(message, code)`` prints ``error: `` and one
sentence on stderr and exits with the README's code (``EXIT_*``), never a traceback. The
command group turns click's own usage errors into the same line (``cli._Main``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress, ProgressColumn, TaskID
from rich.table import Table
from rich.text import Text

# the exit codes live in errors.py, beside the errors that carry them; commands import them from here
from .errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_UNUSABLE,
    EXIT_USAGE,
    OccreidError,
)
from .status import STATUSES

#: Every exit code, as the README's table names it (tests check the table against these).
EXIT_CODES = {
    EXIT_OK: "all done",
    EXIT_UNUSABLE: "some inputs could not be used",
    EXIT_USAGE: "usage or configuration error",
    EXIT_OUTPUT: "output not writable or disk full",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_TERMINATED: "terminated",
}
#: Width of a console that writes to a pipe or a file: text is never wrapped there (soft wrap), and
#: a table gets this much room, enough for any path Linux allows (PATH_MAX) in a cell; a panel or
#: rule, which fills the width, is kept for a terminal (``warn``).
PIPE_WIDTH = 4096
#: Seconds between two progress lines in a log.
LOG_PROGRESS_EVERY = 10.0
#: What ``split_label`` shows for the split of the images at the top of a ``folder`` layout.
TOP_LEVEL = "(top level)"


def make_console(stderr: bool = False, file=None) -> Console:
    """A console for stdout (or stderr, or ``file``): the terminal's width when it is a terminal,
    else ``PIPE_WIDTH`` and soft wrapping, so a line of a log is never cut inside a value."""
    stream = file if file is not None else (sys.stderr if stderr else sys.stdout)
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: treat it as a file
        tty = False
    return Console(file=file, stderr=stderr, width=None if tty else PIPE_WIDTH, soft_wrap=not tty,
                   highlight=False, markup=False)


out = make_console()
err = make_console(stderr=True)


#: ``occreid --debug``: ``fail`` prints the traceback of the exception being handled first (for maintainers).
DEBUG = False


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """``error: `` and one sentence on stderr, then exit with ``code`` (README "Exit codes");
    with ``--debug``, the traceback of the exception being handled before it."""
    if DEBUG and sys.exc_info()[0] is not None:
        import traceback

        sys.stderr.write(traceback.format_exc())
    text = " ".join(line.strip() for line in str(message).strip().splitlines())
    if text and text[-1] not in ".?!":
        text += "."
    err.print(Text.assemble(("error: ", "bold red"), text), soft_wrap=True)
    sys.exit(code)


def fail_with(exc: OccreidError) -> NoReturn:
    """The one mapping of an ``OccreidError`` to what a user sees: its sentence and its exit code
    (``cli._Main`` calls it for every command; a command invoked on its own, as tests do, too)."""
    fail(str(exc), exc.exit_code)


def warn(message: str, title: str) -> None:
    """A warning that must not be missed: a red panel in a terminal, one ``WARNING:`` line in a log."""
    if err.is_terminal:
        err.print(Panel(message, title=f"WARNING: {title}", border_style="bold red"))
    else:
        err.print(Text.assemble(("WARNING: ", "bold red"), f"{title}: ", " ".join(message.split())))


def print_table(table: Table, console: Console | None = None) -> None:
    """A table with its title on a line of its own: a long path in a title is never wrapped to the
    table's width or padded."""
    console = console or out
    title, table.title = table.title, None
    if title:
        console.print(Text(str(title), style="bold"))
    console.print(table)


def split_label(split: str) -> str:
    """A split as tables show it: the ``folder`` layout's images at the top level (split ``.`` in
    the manifest) read ``(top level)``."""
    return TOP_LEVEL if split == "." else split


class LogProgress:
    """Progress for a log: a plain line at most every ``every`` seconds and one when it stops
    (``occluding: 1,200 of 5,572 images (21 %), 95.3 images/s, 12 s``). It offers the part of
    rich's ``Progress`` the commands use, so either can be passed around."""

    def __init__(self, console: Console, unit: str = "images", every: float = LOG_PROGRESS_EVERY,
                 clock=time.monotonic):
        self.console, self.unit, self.every, self.clock = console, unit, every, clock
        self.tasks: dict[int, dict] = {}
        self.started = self.last = None

    def add_task(self, description: str, total: float | None = None, **_) -> TaskID:
        self.tasks[len(self.tasks)] = {"description": description, "total": total, "done": 0}
        return TaskID(len(self.tasks) - 1)

    def update(self, task: TaskID, total: float | None = None, advance: float | None = None, **_) -> None:
        if total is not None:
            self.tasks[task]["total"] = total
        if advance:
            self.advance(task, advance)

    def start(self) -> None:
        if self.started is None:
            self.started = self.last = self.clock()

    def advance(self, task: TaskID, advance: float = 1) -> None:
        self.start()
        self.tasks[task]["done"] += advance
        if self.clock() - self.last >= self.every:
            self.last = self.clock()
            self._line(task)

    def stop(self) -> None:
        if self.started is not None:
            for task in self.tasks:
                self._line(task)
        self.started = None

    def _line(self, task: TaskID) -> None:
        t = self.tasks[task]
        elapsed = max(self.clock() - self.started, 1e-9)
        done, total = int(t["done"]), t["total"]
        of = f" of {int(total):,}" if total else ""
        share = f" ({100 * done / total:.0f} %)" if total else ""
        self.console.print(f"{t['description']}: {done:,}{of} {self.unit}{share}, {done / elapsed:.1f} {self.unit}/s, "
                           f"{elapsed:.0f} s")

    def __enter__(self) -> LogProgress:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class RateColumn(ProgressColumn):
    """A live bar's column: images per second."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f} img/s" if task.speed else "", style="progress.data.speed")


def progress_display(*columns, console: Console | None = None, show: bool = True, unit: str = "images",
                     transient: bool = False) -> Progress | LogProgress:
    """A live rich progress bar with ``columns`` in a terminal; plain lines (``LogProgress``) in a
    log; rich's disabled bar when ``show`` is false (``--no-progress``)."""
    console = console or err
    if show and not console.is_terminal:
        return LogProgress(console, unit)
    return Progress(*columns, console=console, transient=transient, disable=not show)


def progress_callback(bar: Progress | LogProgress, task: TaskID) -> Callable[..., None]:
    """The ``progress(total=..., advance=...)`` callback the runner and the bench report through,
    drawn on ``task`` of ``bar``: the first total starts the bar (so it appears only once the
    checks before the first image have passed)."""

    def on_progress(total: float | None = None, advance: float = 0) -> None:
        if total is not None:
            bar.update(task, total=total)
            bar.start()
        bar.advance(task, advance)

    return on_progress


def borderless_table(title: str | None = None) -> Table:
    """A borderless table that fits an 80-column terminal."""
    return Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")


def summary_table(summary: dict, title: str) -> Table:
    """``generate``'s and ``merge``'s table: per split, its images, labels and statuses, each
    headed by its name in the manifest (the statuses other than occluded, no_person and error only
    when they happen)."""
    table = borderless_table(title)
    cols = ["split", "images", "ids", "cameras", "clothes", *STATUSES]
    optional = {"part_absent", "not_covered", "not_selected"}  # shown only when they happen
    cols = [k for k in cols if k not in optional or summary["all"].get(k)]
    for key in cols:
        table.add_column(key, justify="left" if key == "split" else "right", no_wrap=True)
    for split in [s for s in summary if s != "all"] + ["all"]:
        row = summary[split]
        table.add_row(split_label(split), *(str(row[k]) for k in cols[1:]), style="bold" if split == "all" else None)
    return table
