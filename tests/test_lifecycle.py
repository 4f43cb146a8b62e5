"""A killed run never locks its own output (issue 18): worker processes die with the main process
whatever kills it, the next run takes the output over with a line saying so, and SIGTERM ends a
run as Ctrl-C does (the chunk in flight the only loss, one line, exit 143), resumed byte-identical.

The run is stopped at a known point by ``lifecycle_parsers:BlockingParser`` (each process's N-th
parse writes its pid and waits); every wait here is a bounded poll of a condition, never a sleep
guessed long enough."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import cli, cli_args, cli_env, dataset_copy, output_digest

PARSER = "lifecycle_parsers:BlockingParser"


def _generate(src: Path, out: Path, workers: int) -> tuple:
    return ("generate", src, "--out", out, "--parser", PARSER, "-j", workers, "--no-progress")


def _run(src, out, workers) -> subprocess.CompletedProcess:
    return cli(*_generate(src, out, workers))


def _until(condition, timeout: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` until it holds (bounded): synchronisation on a fact, not on a guess."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _gone(pid: int) -> bool:
    """The process has ended (no such pid, or a zombie nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    src, whole = dataset_copy(tmp_path_factory, "market1501-mini")
    assert _run(src, whole, 1).returncode == 0
    return src, whole


@pytest.fixture
def blocked_run(tmp_path):
    """Start a run stuck in each of its parsing processes (the main one with -j 1): (process, their
    pids, its stderr file). Its output goes to files, not pipes (an orphan would hold a pipe open);
    any process of it still there at the end is killed, so a failing test leaves none behind."""
    started: list[int] = []

    def start(src: Path, out: Path, workers: int) -> tuple[subprocess.Popen, list[int], Path]:
        folder = tmp_path / "blocked"
        folder.mkdir()
        err = tmp_path / "stderr.txt"
        with open(err, "w") as fh:
            block = {"OCCREID_TEST_BLOCK_AFTER": "3", "OCCREID_TEST_BLOCK_DIR": str(folder)}
            proc = subprocess.Popen(cli_args(*_generate(src, out, workers)), stdout=subprocess.DEVNULL, stderr=fh,
                                    env=cli_env(block))
        started.append(proc.pid)
        _until(lambda: len([p for p in folder.iterdir() if not p.name.endswith(".tmp")]) == workers
               or proc.poll() is not None, what="every parsing process to block")
        pids = [int(p.name) for p in folder.iterdir() if not p.name.endswith(".tmp")]
        started.extend(pids)
        assert proc.poll() is None, err.read_text()
        return proc, pids, err

    yield start
    for pid in started:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_main_process_alone_ends_its_workers_and_a_rerun_takes_over(market, tmp_path, blocked_run):
    src, whole = market
    out = tmp_path / "out"
    proc, workers, _ = blocked_run(src, out, 2)
    assert proc.pid not in workers and len(workers) == 2
    os.kill(proc.pid, signal.SIGKILL)  # the OOM killer, a scheduler: the main process alone
    proc.wait(timeout=60)
    _until(lambda: all(_gone(pid) for pid in workers), timeout=30, what="the orphaned workers to end")
    res = _run(src, out, 2)
    assert res.returncode == 0, res.stderr
    assert "ended without finishing" in res.stderr and f"pid {proc.pid}" in res.stderr  # the line saying so
    assert output_digest(out) == output_digest(whole)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_ends_like_ctrl_c_with_143_and_resumes_byte_identical(market, tmp_path, workers, blocked_run):
    src, whole = market
    out = tmp_path / "out"
    proc, blocked, err = blocked_run(src, out, workers)
    proc.send_signal(signal.SIGTERM)  # kill PID: the main process alone
    proc.wait(timeout=60)
    stderr = err.read_text()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.strip().count("\n") == 0 and "terminated" in stderr, stderr
    _until(lambda: all(_gone(pid) for pid in blocked), timeout=30, what="the workers to end")
    res = _run(src, out, workers)
    assert res.returncode == 0, res.stderr
    assert "ended without finishing" not in res.stderr  # a clean stop leaves no holder behind
    assert output_digest(out) == output_digest(whole)


def test_a_live_holder_is_still_refused_naming_its_pid(market, tmp_path):
    src, whole = market
    out = tmp_path / "out"
    shutil.copytree(whole, out)
    lock = out / "_occreid" / "state.sqlite.lock"
    with open(lock, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(f"{os.uname().nodename} {os.getpid()}\n".encode())
        fh.flush()
        res = _run(src, out, 1)
    assert res.returncode == 2 and "another occreid run" in res.stderr and f"pid {os.getpid()}" in res.stderr


def test_the_watchdog_ends_a_worker_whose_parent_died_without_a_parent_death_signal(tmp_path):
    """The fallback alone (as on a system without prctl): the worker notices its parent is gone."""
    record = tmp_path / "child"
    script = f"""
import os, signal, sys
from occreid import engines
sys.platform = "other"  # no prctl: the watchdog alone
engines.WATCH_INTERVAL = 0.05
pid = os.fork()
if pid == 0:
    engines.die_with_parent(os.getppid())
    open({str(record)!r} + ".tmp", "w").write(str(os.getpid()))
    os.replace({str(record)!r} + ".tmp", {str(record)!r})
    while True:
        signal.pause()
else:
    while not os.path.exists({str(record)!r}):
        signal.sigtimedwait([signal.SIGCHLD], 0.02)
    os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], env=cli_env(), timeout=60, check=True)
    child = int(record.read_text())
    _until(lambda: _gone(child), timeout=30, what="the watchdog to end the orphan")
