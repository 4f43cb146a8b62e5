"""Shared fixtures: where the real data is, and helpers to hash output trees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"


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
