"""The run state: one SQLite database (standard library, WAL mode) per output root.

It holds one row per input file the run has handled: the input's fingerprint (size, modification
time in ns, SHA-1 of its bytes), what became of it (its manifest row), the hash of the run's
parameters and the SHA-1 of every file the run wrote for it. Rows are committed one chunk at a
time, so a killed run loses at most the chunk in flight, and a resume can *verify* what it keeps:
an input whose fingerprint changed, or an output whose bytes no longer hash to what was written,
is redone; a row whose own checksum does not match (edited by hand, damaged) is redone too.

Relative paths are stored as the OS's bytes (``os.fsencode``), so any name the OS allows, valid
UTF-8 or not, with newlines or commas, round-trips exactly.

A shard's state (``--shard I/N``, on an output other machines share over a network file system)
is opened with ``private=True``: it has one writer by design, so SQLite takes no file locks and
keeps its WAL index in memory (``unix-none`` VFS, exclusive locking mode), and the lock file beside
it is a best-effort guard only. Nothing then depends on file locking working over the network.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import socket
import sqlite3
import time
import urllib.parse
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from .containment import clean_relpath
from .errors import OccreidError, OutputFailure

#: Bump when the tables change; an older state is refused with instructions.
SCHEMA_VERSION = 1

#: Kinds of entry: an image of the layout (a manifest row), or another file copied unchanged.
IMAGE, COPY = "image", "copy"


class StateError(OccreidError, RuntimeError):
    """The run state cannot be used (damaged, from another version, locked); the message says what to do."""


@dataclass
class Entry:
    """What the state knows of one input file.

    ``outputs`` maps an output kind (``image``, ``parts``, ``masks``, ``copy``) to the SHA-1 of the
    bytes written; ``row`` is the manifest row (None for a copied file).
    """

    relpath: str
    kind: str
    size: int
    mtime_ns: int
    sha1: str
    params: str
    outputs: dict[str, str] = field(default_factory=dict)
    row: dict | None = None

    def checksum(self) -> str:
        """A hash over every field: a row edited outside occreid no longer matches it."""
        return self._checksum(json.dumps(self.outputs, sort_keys=True), json.dumps(self.row, sort_keys=True))

    def _checksum(self, outputs_json: str, row_json: str) -> str:
        """``checksum`` from the JSON text of ``outputs`` and ``row`` (made once when committing)."""
        h = hashlib.sha1()
        for part in (os.fsencode(self.relpath), self.kind, str(self.size), str(self.mtime_ns), self.sha1,
                     self.params, outputs_json, row_json):
            h.update(part if isinstance(part, bytes) else part.encode("ascii", "backslashreplace"))
            h.update(b"\0")
        return h.hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    relpath BLOB PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha1 TEXT NOT NULL, params TEXT NOT NULL, outputs TEXT NOT NULL, row TEXT, checksum TEXT NOT NULL
);
"""


class StateFullError(OutputFailure, OSError):
    """The run state could not be committed because its disk is full or not writable."""


def _guard(action):
    """Run one SQLite statement; a full or read-only disk becomes StateFullError (the run stops,
    resumable), any other SQLite failure a StateError."""
    try:
        return action()
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if "full" in text or "readonly" in text or "disk i/o" in text:
            raise StateFullError(28, f"cannot write the run state: {exc}") from None
        raise StateError(f"the run state cannot be written ({exc}); rerun the same command to resume.") from None
    except sqlite3.DatabaseError as exc:
        raise StateError(f"the run state is damaged ({exc}); rerun with --overwrite to start over.") from None


#: Lock files of the states this process holds open: a forked child (a pool worker) closes its
#: copies at once, so the lock is held by the run's main process alone and ends with it.
_HELD: weakref.WeakSet = weakref.WeakSet()
#: How long a run waits for the lock of a run that is gone (its pid no longer exists) to be freed
#: by the worker processes it left, which end with it (``engines.py``).
TAKEOVER_WAIT = 10.0


def _close_held_in_child() -> None:
    for fh in list(_HELD):
        try:
            fh.close()
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


def _holder(lock_fh) -> tuple[str, int | None]:
    """(host, pid) recorded in a lock file by the run that holds (or held) it; ("", None) if none."""
    try:
        lock_fh.seek(0)
        host, _, pid = lock_fh.read(256).decode("utf-8", "replace").strip().partition(" ")
        return host, int(pid)
    except (OSError, ValueError):
        return "", None


def _alive(host: str, pid: int | None) -> bool:
    """Whether the recorded holder may still run: True unless it is a pid of this host that is gone."""
    if pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _lock(lock_fh, private: bool) -> bool:
    """Take the exclusive lock; False when another process holds it."""
    try:
        fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if private and exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True  # a network file system without locks: a shard's lock is best-effort
        return False
    return True


def _release(lock_fh) -> None:
    """Clear the holder's record (a clean end), then release the lock."""
    try:
        lock_fh.seek(0)
        lock_fh.truncate()
    except (OSError, ValueError):
        pass
    _HELD.discard(lock_fh)
    try:  # unlocked explicitly: a forked child that has not yet closed its copy cannot keep it held
        fcntl.flock(lock_fh, fcntl.LOCK_UN)
    except OSError:
        pass
    lock_fh.close()


class RunState:
    """The SQLite run state of one output root. Open it with ``RunState.open``; close it when done.

    An exclusive lock (``state.lock`` beside it) keeps two runs from writing one output at once. The
    holder writes its host and pid into it and clears them when it closes, so a run that finds a
    record left there knows the previous run was killed and says so (``taken_over``); a run whose
    recorded pid is gone while its lock is still held waits (``TAKEOVER_WAIT``) for the worker
    processes it left to end, then takes the lock over. A live holder is refused.
    """

    taken_over: str = ""  # one line when this run took over the output of a run that was killed

    def __init__(self, path: Path, db: sqlite3.Connection, lock_fh):
        self.path = Path(path)
        self._db = db
        self._lock = lock_fh

    @classmethod
    def open(cls, path: Path, create: bool, private: bool = False) -> RunState:
        """Open (or, with ``create``, make) the state at ``path``; StateError if it is damaged or locked.

        ``private``: a state only this process ever opens (a shard's): no SQLite file locks, no
        shared-memory WAL index, and a lock file that cannot be taken (a network file system
        without locks) is not an error."""
        path = Path(path)
        lock_fh = open(path.with_name(path.name + ".lock"), "a+b")
        where = path.parent.parent if not private else path.parent
        host, pid = _holder(lock_fh)
        locked = _lock(lock_fh, private)
        if not locked and not _alive(host, pid):  # its workers may still be ending: they die with it
            deadline = time.monotonic() + TAKEOVER_WAIT
            while not locked and time.monotonic() < deadline:
                time.sleep(0.1)
                locked = _lock(lock_fh, private)
        if not locked:
            lock_fh.close()
            who = f" (pid {pid} on {host})" if pid is not None else ""
            gone = "" if _alive(host, pid) else "; that run is gone but processes it started still hold the lock"
            raise StateError(f"another occreid run{who} is writing to {where}{gone}; wait for it to finish "
                             "(or stop it) before running again.") from None
        taken_over = ""
        if pid is not None:
            taken_over = (f"the earlier run on {where} (pid {pid} on {host}) ended without finishing (killed?); "
                          "this run takes over its output and resumes it.")
        try:
            lock_fh.seek(0)
            lock_fh.truncate()
            lock_fh.write(f"{socket.gethostname()} {os.getpid()}\n".encode())
            lock_fh.flush()
        except OSError:
            pass
        _HELD.add(lock_fh)
        if not create and not path.exists():
            _release(lock_fh)
            raise StateError(f"no run state at {path}")
        try:
            if private:
                uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?vfs=unix-none"
                db = sqlite3.connect(uri, uri=True, isolation_level=None)
                db.execute("PRAGMA locking_mode=EXCLUSIVE")  # before WAL: the WAL index then lives in memory
            else:
                db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            _release(lock_fh)
            raise StateError(
                f"the run state {path} is damaged ({exc}). Rerun with --overwrite to start this output over "
                "(it removes what the earlier run wrote), or choose another --out."
            ) from None
        state = cls(path, db, lock_fh)
        state.taken_over = taken_over
        if create and state.get_meta("schema") is None:
            state.set_meta("schema", str(SCHEMA_VERSION))
        elif (schema := state.get_meta("schema")) != str(SCHEMA_VERSION):
            state.close()
            raise StateError(f"the run state {path} has schema {schema!r}, this occreid "
                             f"writes {SCHEMA_VERSION}; rerun with --overwrite to start this output over.")
        return state

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        _guard(lambda: self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)))

    # -- entries ---------------------------------------------------------------------------
    def entries(self) -> tuple[dict[str, Entry], list[str]]:
        """Every entry whose checksum verifies, by relpath, and the relpaths of those that do not. A
        row whose relpath is not a clean relative path (``containment.clean_relpath``: ``..``, an
        absolute path, a path under ``_occreid/``) is damage too: dropped and redone, never used
        as a path."""
        good: dict[str, Entry] = {}
        bad: list[str] = []
        for rel_b, kind, size, mtime_ns, sha1, params, outputs, row, checksum in self._db.execute(
                "SELECT relpath, kind, size, mtime_ns, sha1, params, outputs, row, checksum FROM files"):
            rel = os.fsdecode(bytes(rel_b)) if isinstance(rel_b, (bytes, memoryview)) else str(rel_b)
            try:
                entry = Entry(rel, kind, int(size), int(mtime_ns), str(sha1), str(params),
                              json.loads(outputs), None if row is None else json.loads(row))
                ok = entry.checksum() == checksum and isinstance(entry.outputs, dict) and clean_relpath(rel)
            except (TypeError, ValueError):
                ok = False
            if ok:
                good[rel] = entry
            else:
                bad.append(rel)
        return good, bad

    def commit(self, entries: list[Entry]) -> None:
        """Store entries in one transaction (one chunk: commits are per chunk, not per image)."""
        values = []
        for e in entries:
            outputs, row = json.dumps(e.outputs, sort_keys=True), json.dumps(e.row, sort_keys=True)
            values.append((os.fsencode(e.relpath), e.kind, e.size, e.mtime_ns, e.sha1, e.params, outputs,
                           None if e.row is None else row, e._checksum(outputs, row)))
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def remove(self, relpaths: list[str]) -> None:
        """Forget these rows (their relpath stored as bytes, or as text by something else)."""
        keys: list[tuple[bytes | str]] = [(os.fsencode(r),) for r in relpaths]
        for r in relpaths:
            try:
                r.encode("utf-8")
                keys.append((r,))
            except UnicodeEncodeError:
                pass
        with self._transaction():
            self._db.executemany("DELETE FROM files WHERE relpath = ?", keys)


    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self):
                _guard(lambda: db.execute("BEGIN IMMEDIATE"))

            def __exit__(self, kind, exc, tb):
                if kind is None:
                    _guard(lambda: db.execute("COMMIT"))
                else:
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    if isinstance(exc, sqlite3.Error):
                        _guard(lambda: (_ for _ in ()).throw(exc))
                return False

        return _Tx()

    def close(self) -> None:
        """Close the database, clear the holder's record (a clean end) and release the lock."""
        try:
            self._db.close()
        finally:
            _release(self._lock)
