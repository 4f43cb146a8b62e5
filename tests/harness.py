"""What the end-to-end tests share: the ``occreid`` command in a subprocess running the code under
test, small file systems to fill or make read-only (tmpfs), and the small trees of real crops they
run on. The test doubles themselves (parsers, fault injection) are in ``parsers.py``."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_dataset

from occreid.runner import GenerateConfig, generate

TESTS = Path(__file__).resolve().parent
BOX = "parsers:BoxParser"
#: The test doubles' switches (``parsers.py``, ``lifecycle_parsers.py``): a subprocess sees only the
#: ones its own test sets, never one left in the caller's environment.
TEST_SWITCHES = ("OCCREID_TEST_KILL_AFTER", "OCCREID_TEST_KILL_AT", "OCCREID_TEST_SIGINT_AFTER",
                 "OCCREID_TEST_FILL_AT", "OCCREID_TEST_BLOCK_AFTER", "OCCREID_TEST_BLOCK_DIR")


def cli_env(extra: dict | None = None) -> dict:
    """The environment of a command under test: the test parsers, then the caller's path (a
    worktree's src/ first), so the subprocess runs the code under test, not whichever occreid the
    environment installed; no test switch but those in ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in TEST_SWITCHES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    return env | (extra or {})


def cli_args(*args) -> list[str]:
    """The console entry point's command line."""
    return [sys.executable, "-m", "occreid.cli", *map(str, args)]


def cli(*args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``occreid ARGS`` in a subprocess (so a kill there kills only it, and a read that blocks
    shows up as a timeout); its output as text. No command may end in a traceback."""
    res = subprocess.run(cli_args(*args), env=cli_env(env), capture_output=True, timeout=timeout)
    res.stdout, res.stderr = (x.decode("utf-8", "replace") for x in (res.stdout, res.stderr))
    assert "Traceback" not in res.stderr, res.stderr
    return res


def one_sentence(res: subprocess.CompletedProcess) -> str:
    """The command's error, asserted to be the one ``error:`` sentence (a line or three)."""
    text = res.stderr.strip()
    assert text.startswith("error:") and len(text.splitlines()) <= 3, text
    return text


def run_box(src, out, **kw):
    """``generate`` in this process with the box test parser and one worker (the options in ``kw`` win)."""
    kw.setdefault("parser", BOX)
    kw.setdefault("workers", 1)
    return generate(GenerateConfig(input=Path(src), output=Path(out), **kw))


# -- what a tree holds ----------------------------------------------------------------------
def _entries(root: Path, plain: bool) -> dict:
    """Every entry under root, not following links: a link's target, a file's SHA-256 (and mode
    unless ``plain``), anything else its type (``plain``: ``dir``). Names are bytes unless ``plain``.
    Reads regular files only (never a FIFO)."""
    out: dict = {}
    base = os.fspath(root) if plain else os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                out[rel] = ("file", digest) if plain else ("file", digest, stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("dir",) if plain else ("other", stat.S_IFMT(st.st_mode))
    return out


def snapshot(root: Path) -> dict:
    """Every entry under root, names as bytes: type, content hash and mode (files) or target (links)."""
    return _entries(root, plain=False)


def output_digest(root: Path) -> dict:
    """What a run leaves for users: every output file but the SQLite state itself and its lock."""
    snap = snapshot(root)
    return {k: v for k, v in snap.items()
            if not (k.startswith(b"_occreid/state.sqlite") or k.startswith(b"_occreid/tmp"))}


def contents(root: Path) -> dict:
    """Every entry under root, names as text: type, and content hash (files) or target (links)."""
    return _entries(root, plain=True)


def outputs(root: Path) -> dict:
    """``contents`` but occreid's own ``_occreid/`` folder: the twin a user sees."""
    return {k: v for k, v in contents(root).items() if not k.startswith("_occreid")}


def run_folder(src, out, **kw):
    """``run_box`` reading ``src`` as a ``folder`` layout (unless ``kw`` names another)."""
    return run_box(src, out, **{"layout": "folder", **kw})


def dataset_copy(tmp_path_factory, dataset: str) -> tuple[Path, Path]:
    """A copy of the shared mini ``dataset`` (so a test may change its inputs) and where its whole
    output goes: (BASE/data, BASE/whole)."""
    base = tmp_path_factory.mktemp(dataset)
    shutil.copytree(shared_dataset(dataset), base / "data")
    return base / "data", base / "whole"


def crops_in_two_folders(src: Path, n: int = 8) -> list[Path]:
    """``n`` Market-1501 query crops copied under ``src/a`` and ``src/b`` (a ``folder`` layout); the
    crops copied, in order."""
    names = sorted((shared_dataset("market1501-mini") / "query").glob("*.jpg"))[:n]
    for i, p in enumerate(names):
        (src / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, src / ("a" if i % 2 else "b") / p.name)
    return names


def mount_tmpfs(point: Path, size: str, readonly: bool = False) -> None:
    """Mount a tmpfs of ``size`` at ``point`` (an existing folder); the test skips where it cannot."""
    opts = f"size={size}" + (",ro" if readonly else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or 'mount failed'}); needs root")


def unmount(point: Path) -> None:
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


class Tmpfs:
    """Small file systems for a test (``with Tmpfs(tmp_path) as mount: disk = mount("64k")``), each
    in a new folder of ``base``; all unmounted at the end."""

    def __init__(self, base: Path):
        self.base, self.mounted = base, []

    def __enter__(self):
        return self.mount

    def mount(self, size: str, readonly: bool = False) -> Path:
        point = self.base / f"mnt{len(self.mounted)}"
        point.mkdir()
        mount_tmpfs(point, size, readonly)
        self.mounted.append(point)
        return point

    def __exit__(self, *exc) -> None:
        for point in self.mounted:
            unmount(point)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte (a file named ``filler``)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)


#: What can stand where a regular file is expected (``not_a_regular_file``).
IRREGULAR = ("fifo", "dev-zero", "folder", "folder-link")


def not_a_regular_file(path: Path, kind: str) -> Path:
    """Put at ``path`` one of ``IRREGULAR``: a FIFO (a read would block), a link to /dev/zero
    (endless), a folder, or a link to the folder holding ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        assert kind == "folder-link", kind
        path.symlink_to(path.parent)
    return path
