"""Shared fixtures: where the real data is, and helpers to hash output trees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"


#: The mini datasets most tests build their fixtures from (../shared/data/README.md describes them).
MINI_DATASETS = ("market1501-mini", "mars-mini", "prcc-mini", "ltcc-mini")


def _missing_data_lines() -> list[str]:
    missing = [name for name in MINI_DATASETS if not (DATA / name).is_dir()]
    if not missing:
        return []
    return [f"REAL TEST DATA MISSING: {', '.join(missing)} not under {DATA}.",
            "  Most test modules skip without it, so a green run proves little. Get it by placing the project's",
            "  shared folder beside this checkout (../shared/data, with the mini datasets its README.md lists),",
            "  then rerun."]


def pytest_report_header(config) -> list[str]:
    """Say at the top of every run whether the real test data is there: without it most test
    modules skip, and a green run then proves little."""
    return _missing_data_lines() or [f"real test data: {DATA}"]


def pytest_terminal_summary(terminalreporter) -> None:
    """The same warning at the end, where ``pytest -q`` (which has no header) shows it too."""
    for line in _missing_data_lines():
        terminalreporter.write_line(line, yellow=True, bold=True)


def shared_dataset(name: str) -> Path:
    """A dataset under ../shared/data, or skip the test with the reason."""
    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (the project expects ../shared beside it)")
    return path


def tree_digest(root: Path, exclude_state: bool = True) -> dict[str, str]:
    """SHA-256 of every file under root by relpath (occreid's _occreid/ state excluded by default)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not (exclude_state and rel.startswith("_occreid/")):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
