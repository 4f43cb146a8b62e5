"""The README's reference tables against the code they describe: a column, status, exit code,
layout or preset added to (or renamed in) the code without its row, or the other way round, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from occreid.console import EXIT_CODES
from occreid.datasets import DATASETS
from occreid.occlusion import PRESETS
from occreid.status import Status
from occreid.writer import MANIFEST_FIELDS

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_table(header: str) -> list[list[str]]:
    """The rows (cells stripped) of the README table whose header row starts with ``| header |``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"\|\s*{re.escape(header)}\s*\|", line)]
    assert len(starts) == 1, f"the README should hold one table headed '| {header} |', found {len(starts)}"
    rows = []
    for line in lines[starts[0] + 2:]:  # past the header and its --- row
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"the README's '{header}' table has no rows"
    return rows


def names(cell: str) -> list[str]:
    """The `code` names in a cell, in order."""
    return re.findall(r"`([^`]+)`", cell)


def test_manifest_columns_table_lists_every_column_in_order():
    listed = [name for row in readme_table("column") for name in names(row[0])]
    assert listed == list(MANIFEST_FIELDS)


def test_status_table_lists_every_status_in_order():
    listed = [name for row in readme_table("status") for name in names(row[0])]
    assert listed == [s.value for s in Status]


def test_exit_code_table_matches_the_codes_and_their_names():
    rows = readme_table("code")
    assert [int(row[0]) for row in rows] == sorted(EXIT_CODES)
    for row in rows:
        assert row[1].startswith(EXIT_CODES[int(row[0])]), row


@pytest.mark.parametrize("header, declared", [("`--layout`", DATASETS), ("preset", PRESETS)])
def test_layout_and_preset_tables_name_every_one(header, declared):
    listed = [name for row in readme_table(header) for name in names(row[0])]
    assert sorted(listed) == sorted(declared)


def test_the_readme_says_where_occreid_is_and_the_two_commands_exist():
    text = README.read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in text and ".venv/bin/occreid" in text
    root = README.parent
    for script in re.findall(r"^bash (scripts/\w+\.sh)", text, re.M):
        assert (root / script).is_file(), script
    assert "exec bash scripts/test.sh" in (root / ".ci" / "run").read_text()  # CI runs the README's test command
