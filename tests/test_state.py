"""The SQLite run state: any name round-trips, tampering is detected, damage and a second writer
are refused with a sentence that says what to do."""

from __future__ import annotations

import os
import sqlite3

import pytest

from occreid.state import COPY, IMAGE, Entry, RunState, StateError

NAMES = ["plain.jpg", "new\nline.jpg", "cr\rname.jpg", 'comma,"quote".jpg', os.fsdecode(b"bad\xff\xfe.jpg"),
         "caf\u00e9/\U0001F600.jpg"]


def _entry(rel: str, i: int) -> Entry:
    row = {"relpath": rel, "status": "occluded", "reason": "", "image_fraction": "0.125000"}
    return Entry(rel, IMAGE, 100 + i, 10**18 + i, f"{i:040x}", "p" * 40, {"image": f"{i + 1:040x}"}, row)


def test_any_name_round_trips_and_commits_are_durable(tmp_path):
    path = tmp_path / "state.sqlite"
    state = RunState.open(path, create=True)
    state.commit([_entry(n, i) for i, n in enumerate(NAMES)])
    state.commit([Entry("info/readme.txt", COPY, 5, 6, "a" * 40, "p" * 40, {"copy": "a" * 40})])
    state.set_meta("fingerprint", '{"seed": 1}')
    state.close()
    again = RunState.open(path, create=False)
    good, bad = again.entries()
    assert bad == [] and set(good) == set(NAMES) | {"info/readme.txt"}
    for i, n in enumerate(NAMES):
        assert good[n] == _entry(n, i)
    assert again.get_meta("fingerprint") == '{"seed": 1}'
    again.remove([NAMES[0]])
    assert NAMES[0] not in again.entries()[0]
    again.close()


@pytest.mark.parametrize("sql", [
    "UPDATE files SET row = replace(row, 'occluded', 'no_person')",
    "UPDATE files SET sha1 = char(0)",
    "UPDATE files SET outputs = '{not json'",
    "UPDATE files SET size = size + 1",
])
def test_a_row_edited_outside_occreid_does_not_verify(tmp_path, sql):
    path = tmp_path / "state.sqlite"
    state = RunState.open(path, create=True)
    state.commit([_entry("a.jpg", 0), _entry("b.jpg", 1)])
    state.close()
    with sqlite3.connect(path) as db:
        db.execute(sql + " WHERE relpath = ?", (b"a.jpg",))
    state = RunState.open(path, create=False)
    good, bad = state.entries()
    state.close()
    assert bad == ["a.jpg"] and set(good) == {"b.jpg"}


def test_damaged_file_other_schema_and_a_second_writer_are_refused(tmp_path):
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"SQLite format 3\0" + os.urandom(4000))
    with pytest.raises(StateError, match="damaged.*--overwrite"):
        RunState.open(path, create=True)
    path.unlink()
    state = RunState.open(path, create=True)
    with pytest.raises(StateError, match="another occreid run"):
        RunState.open(path, create=True)
    state.set_meta("schema", "999")
    state.close()
    with pytest.raises(StateError, match="schema '999'.*--overwrite"):
        RunState.open(path, create=False)


@pytest.mark.parametrize("rel", ["../victim.txt", "/etc/passwd", "a/../../v.jpg", "a//b.jpg", "./a.jpg",
                                 "_occreid/state.sqlite", "a/./b.jpg"])
def test_a_row_whose_relpath_is_not_clean_is_damage_even_with_its_checksum(tmp_path, rel):
    state = RunState.open(tmp_path / "state.sqlite", create=True)
    state.commit([_entry(rel, 1), _entry("a/fine.jpg", 2)])  # a forged row: its checksum verifies
    good, bad = state.entries()
    assert list(good) == ["a/fine.jpg"] and bad == [rel]
    state.remove(bad)
    assert state.entries() == (good, [])
    state.close()


def test_the_lock_records_its_holder_and_a_killed_holder_is_taken_over_with_a_line(tmp_path):
    path = tmp_path / "_occreid" / "state.sqlite"
    path.parent.mkdir()
    lock = path.with_name("state.sqlite.lock")
    state = RunState.open(path, create=True)
    assert lock.read_text().split()[1] == str(os.getpid()) and not state.taken_over
    state.close()
    assert lock.read_bytes() == b""  # a clean end clears it: the next run says nothing
    again = RunState.open(path, create=False)
    assert not again.taken_over
    again.close()
    child = os.fork()
    if child == 0:  # a holder that is gone: its record stays behind
        os._exit(0)
    os.waitpid(child, 0)
    lock.write_text(f"{os.uname().nodename} {child}\n")
    taken = RunState.open(path, create=False)
    assert f"pid {child}" in taken.taken_over and "ended without finishing" in taken.taken_over
    taken.close()


def test_a_forked_child_does_not_keep_the_lock(tmp_path):
    """A pool worker forked while the run holds the lock closes its copy at once: when the run ends
    without releasing it (killed: its descriptor closed, never unlocked), the output is free even
    though the child still runs."""
    path = tmp_path / "state.sqlite"
    state = RunState.open(path, create=True)
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(release_w)
        os.write(ready_w, b"r")  # after the fork hooks: the child's copy of the lock is closed by now
        os.read(release_r, 1)  # alive until the test lets it go
        os._exit(0)
    os.close(release_r)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"r"
        state._db.close()
        state._lock.close()  # as a kill leaves it: closed, not unlocked
        again = RunState.open(path, create=False)  # before: "another occreid run is writing"
        assert "ended without finishing" in again.taken_over
        again.close()
    finally:
        os.write(release_w, b"x")
        os.close(release_w)
        os.close(ready_r)
        os.waitpid(child, 0)
