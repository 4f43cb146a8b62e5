"""What the command line prints for people and for logs (``occreid.console``): into a pipe, whole
lines that are never wrapped inside a value, whatever COLUMNS says; every figure with its label;
progress as plain lines; and one error style, ``error: `` and one sentence, for every command."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from rich.table import Table
from rich.text import Text

import occreid
from occreid.cli import main
from occreid.console import PIPE_WIDTH, LogProgress, make_console, print_table, progress_callback
from occreid.occlusion import preset_params
from occreid.runner import GenerateConfig, generate

TESTS = Path(__file__).resolve().parent
BOX = "parsers:BoxParser"
LONG = "a-folder-name-long-enough-to-pass-eighty-columns-on-its-own-" * 2


def piped(*args) -> subprocess.CompletedProcess:
    """The real entry point with stdout and stderr going to pipes, as a log or CI has them, and an
    80-column COLUMNS that rich would otherwise wrap at."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": os.pathsep.join([str(TESTS),
                                                                          str(Path(occreid.__file__).parents[1])])}
    env.pop("NO_COLOR", None)
    res = subprocess.run([sys.executable, "-m", "occreid.cli", *map(str, args)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert "Traceback" not in res.stderr, res.stderr
    return res


@pytest.fixture(scope="module")
def person_run(tmp_path_factory):
    """market1501-mini occluded with pasted people into a folder whose path is over 120 characters."""
    src = shared_dataset("market1501-mini")
    out = tmp_path_factory.mktemp("piped") / LONG / "occ_market"
    generate(GenerateConfig(input=src, output=out, parser=BOX, occlusion=preset_params("person"), preset="person",
                            workers=1))
    return src, out


def test_piped_generate_prints_whole_lines(person_run, tmp_path):
    src, _ = person_run
    out = tmp_path / LONG / "occ_rect"
    res = piped("generate", src, "--out", out, "--parser", BOX, "--preset", "rectangle", "--workers", "1")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert f"occreid generate: {src} -> {out}" in lines  # the header: one line, not padded
    assert f"manifest: {out / '_occreid' / 'manifest.csv'}" in lines
    start = lines.index(f"occreid generate: {src} -> {out}")
    head = lines[start + 1].split()
    assert head[:5] == ["split", "images", "ids", "cameras", "clothes"] and "occluded" in head
    total = next(line for line in lines[start + 2:] if line.startswith("all "))
    assert len(total.split()) == len(head) and total.split()[1] == "96"  # every value under its label
    assert "\x1b[" not in res.stdout + res.stderr  # no colour codes in a log
    # progress: plain lines, the last one complete
    assert re.search(r"^occluding: 96 of 96 images \(100 %\), [\d.]+ images/s, \d+ s$", res.stderr, re.M), res.stderr


def test_piped_stats_labels_every_figure(person_run):
    _, out = person_run
    res = piped("stats", out)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"occreid stats: {out}"
    header = next(line for line in lines if line.startswith("split") and "p10" in line)
    assert header.split() == ["split", *[w for k in ("image", "person") for q in ("p10", "p50", "p90")
                                         for w in (k, "%", q)]]
    shares = lines[lines.index(header) + 1:]
    assert any(row.split()[0] == "all" and len(row.split()) == 7 for row in shares)  # a value under each label
    facts = [line for line in lines if line.startswith("all: ")]
    assert len(facts) == 1, lines  # one split's facts stay on one line
    fact = facts[0]
    assert "parts covered: " in fact and "part maps from: " in fact
    assert re.search(r"drawn part covered %: p10 [\d.]+, p50 [\d.]+, p90 [\d.]+", fact), fact


def test_click_usage_errors_and_command_errors_read_the_same(tmp_path):
    src = shared_dataset("market1501-mini")
    cases = [
        (["generate", str(src)], "Missing option '--out'"),  # click's own
        (["generate", str(src), "--out", str(tmp_path / "o"), "--bogus"], "No such option"),
        (["stats", str(tmp_path)], "manifest"),  # occreid's: no manifest there
        (["generate", str(src), "--out", str(tmp_path / "o"), "--ray-address", "x"], "--engine ray"),
    ]
    for args, words in cases:
        res = CliRunner().invoke(main, args)
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2, (args, res.output)
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, res.stderr)
        assert "Usage:" not in res.output and "Traceback" not in res.output


def test_evaluate_says_what_mars_lacks():
    mars = shared_dataset("mars-mini")
    if (mars / "info").is_dir():
        pytest.skip("this mars-mini has its info/ tables")
    res = CliRunner().invoke(main, ["evaluate", str(mars), "--no-progress"])
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert line.startswith("error: ") and "cannot be evaluated" in line and "query_IDX.mat" in line
    assert "no evaluation protocol" not in line  # the README lists MARS's protocol: what is missing is info/


def test_a_log_console_never_wraps_but_a_terminal_gets_its_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    log = make_console(file=io.StringIO())
    assert log.width == PIPE_WIDTH and not log.is_terminal
    table = Table(title=f"title {LONG}")
    table.add_column("path")
    table.add_row("/data/" + LONG + "/x.jpg")
    print_table(table, log)
    log.print("manifest: /data/[x]/[/y]/manifest.csv")  # no markup: a path prints as it is, and never raises
    text = log.file.getvalue()
    assert f"title {LONG}\n" in text and f"/data/{LONG}/x.jpg" in text
    assert "manifest: /data/[x]/[/y]/manifest.csv\n" in text

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("TERM", "xterm-256color")
    term = make_console(file=Tty())
    assert term.is_terminal and term.width == 80 and not term.soft_wrap
    term.print(Text("red", style="red"))
    assert "\x1b[31m" in term.file.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = make_console(file=Tty())
    plain.print(Text("red", style="red"))
    assert "\x1b[31m" not in plain.file.getvalue()


def test_log_progress_prints_a_line_per_interval_and_at_the_end():
    now = [0.0]
    console = make_console(file=io.StringIO())
    bar = LogProgress(console, every=10, clock=lambda: now[0])
    task = bar.add_task("occluding", total=None)
    bar.update(task, total=300)
    bar.start()
    for _ in range(30):  # 10 images a second for 30 s: a line at 10, 20 and 30 s
        now[0] += 1
        bar.advance(task, 10)
    bar.stop()
    bar.stop()  # twice, as the commands' finally blocks do: no second final line
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "occluding: 100 of 300 images (33 %), 10.0 images/s, 10 s"
    assert lines[-1] == "occluding: 300 of 300 images (100 %), 10.0 images/s, 30 s"
    assert len(lines) == 4


def test_progress_callback_starts_the_bar_at_the_first_total():
    """generate's and bench's one callback: nothing before the total is known (the checks), then
    the count against it, in the bench's unit."""
    console = make_console(file=io.StringIO())
    now = [0.0]
    bar = LogProgress(console, unit="cells", every=10, clock=lambda: now[0])
    on_progress = progress_callback(bar, bar.add_task("cells", total=None))
    assert bar.started is None
    on_progress(total=40, advance=4)  # a resumed bench: 4 cells kept
    for _ in range(6):
        now[0] += 2
        on_progress(advance=1)
    bar.stop()
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "cells: 9 of 40 cells (22 %), 0.9 cells/s, 10 s"
    assert lines[-1] == "cells: 10 of 40 cells (25 %), 0.8 cells/s, 12 s"


def test_embed_prints_one_line_and_exits_3_when_it_cannot_write(tmp_path):
    torch = pytest.importorskip("torch")
    src = shared_dataset("ltcc-mini")

    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=2).flatten(1)

    model = tmp_path / "m.pt"
    with warnings.catch_warnings():  # recent torch marks torch.jit deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Mean()).save(str(model))
    args = ["embed", str(src), "-m", str(model), "--height", "16", "--width", "8", "--no-progress", "--out"]
    ok = CliRunner().invoke(main, [*args, str(tmp_path / "f.npz")])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines() == [f"wrote 320 x 24 features of ltcc {src} to {tmp_path / 'f.npz'}"]
    (tmp_path / "a-file").write_text("not a folder")
    bad = CliRunner().invoke(main, [*args, str(tmp_path / "a-file" / "f.npz")])
    lines = bad.stderr.strip().splitlines()
    assert bad.exit_code == 3 and len(lines) == 1 and lines[0].startswith("error: --out ") \
        and "cannot be written" in lines[0], bad.output
