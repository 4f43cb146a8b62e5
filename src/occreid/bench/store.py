"""Where the bench keeps its work: ``DIR/bench.sqlite`` (scored cells and the feature cache) and
the files it exports, every one written inside ``DIR`` through a temporary file and a rename.

Resume: each cell's figures are committed in one transaction once it is scored, keyed by what
decides them (``grid.Cell.key``), so a killed bench, rerun, keeps every finished cell and a
larger grid reuses the cells it shares with a smaller one. Features are cached by the SHA-1 of
the image's bytes and the model's key: an image that a cell leaves unchanged (the gallery under
the ``query`` protocol, a person without the pinned part) is embedded once for the whole grid.

Nothing is written through a symbolic link: ``DIR`` itself and every file the bench replaces
must not be one (a rename replaces a link instead of following it, and the checks refuse them
before anything is written).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from .grid import BenchError

STORE_FILE = "bench.sqlite"
WORK_DIR = "_work"
LOCK_FILE = "bench.lock"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS features (model TEXT NOT NULL, sha1 TEXT NOT NULL, vec BLOB NOT NULL,
                                     PRIMARY KEY (model, sha1));
"""


def prepare_out(out: Path, forbidden: dict[str, Path]) -> Path:
    """Create ``out`` (not a link, not inside nor around any ``forbidden`` folder); BenchError otherwise."""
    out = Path(out)
    if out.is_symlink():
        raise BenchError(f"--out {out} is a symbolic link; the bench writes only into a real folder.")
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a folder.")
    resolved = out.resolve()
    for what, path in forbidden.items():
        p = Path(path).resolve()
        if resolved == p or resolved.is_relative_to(p) or p.is_relative_to(resolved):
            raise BenchError(f"--out {out} overlaps {what} ({p}); choose a folder outside it.")
    out.mkdir(parents=True, exist_ok=True)
    for name in (STORE_FILE, WORK_DIR):
        if (out / name).is_symlink():
            raise BenchError(f"{out / name} is a symbolic link; remove it (the bench never follows links).")
    return out


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` through a temporary file beside it and a rename (a link there is replaced, not
    followed)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise BenchError(f"{path} is a folder; the bench needs to write a file there.")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=".bench-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear_work(out: Path) -> Path:
    """An empty ``DIR/_work`` (what a killed cell left there is removed without following links)."""
    work = Path(out) / WORK_DIR
    if work.is_symlink():
        work.unlink()
    elif work.exists():
        shutil.rmtree(work)
    work.mkdir()
    return work


class BenchStore:
    """The SQLite store of one bench folder: scored cells and cached features. One bench at a time
    per folder (an exclusive lock on ``bench.lock``, released when the process ends, even killed)."""

    def __init__(self, out: Path):
        import fcntl

        path = Path(out) / STORE_FILE
        try:
            self._lock = os.open(Path(out) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise BenchError(f"cannot open {Path(out) / LOCK_FILE} ({exc.strerror or exc}); it must be a plain "
                             "file, not a link.") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock)
            raise BenchError(f"another occreid bench is running in {out}; wait for it or choose another --out.") \
                from None
        try:
            self.db = sqlite3.connect(path, timeout=1.0)
            self.db.executescript(_SCHEMA)
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as exc:
            os.close(self._lock)
            raise BenchError(f"{path} is not a bench store ({exc}); remove it to start the bench over.") from None

    def close(self) -> None:
        self.db.close()
        os.close(self._lock)

    # -- cells ---------------------------------------------------------------------------------
    def cell(self, key: str) -> dict | None:
        row = self.db.execute("SELECT body FROM cells WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            body = json.loads(row[0])
        except ValueError:
            return None  # damaged: scored again
        return body if isinstance(body, dict) else None

    def put_cell(self, key: str, body: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO cells (key, body) VALUES (?, ?)", (key, json.dumps(body)))

    def cell_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM cells").fetchone()[0])

    # -- features ------------------------------------------------------------------------------
    def features(self, model: str, digests: list[str]) -> dict[str, np.ndarray]:
        """The cached features among ``digests`` (SHA-1 of image bytes) for ``model``."""
        found: dict[str, np.ndarray] = {}
        wanted = sorted(set(digests))
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            marks = ",".join("?" * len(part))
            for sha1, vec in self.db.execute(
                    f"SELECT sha1, vec FROM features WHERE model = ? AND sha1 IN ({marks})", (model, *part)):
                found[sha1] = np.frombuffer(vec, dtype=np.float32)
        return found

    def put_features(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO features (model, sha1, vec) VALUES (?, ?, ?)",
                                [(model, k, np.asarray(v, np.float32).tobytes()) for k, v in items.items()])

    def feature_count(self, model: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM features WHERE model = ?", (model,)).fetchone()[0])
