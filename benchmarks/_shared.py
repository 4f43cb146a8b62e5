"""What the benchmarks share: where the repository and the real data beside it are, and a copy
of some of those crops to run on.

The real crops are never part of the project: they lie in ``shared/`` next to the repository root
(``../shared/data/mars-mini``, ``../shared/docs/...``). Each benchmark, run as
``.venv/bin/python benchmarks/bench_NAME.py``, imports these paths instead of working them out.
"""

import shutil
from pathlib import Path

#: The repository root (its ``src/`` and ``tests/``).
ROOT = Path(__file__).resolve().parents[1]
#: The shared folder beside the repository: ``data/`` (real crops) and ``docs/``.
SHARED = ROOT.parent / "shared"
#: The real datasets: ``mars-mini``, ``prcc-mini``, ``ltcc-mini``, ``market1501-mini``.
DATA = SHARED / "data"


def copy_crops(root: Path, relpaths, dest: Path) -> None:
    """Copy the files at ``relpaths`` under ``root`` to the same relative paths under ``dest`` (a
    run's input that the benchmark may take apart; the shared data is never written)."""
    for rel in relpaths:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
