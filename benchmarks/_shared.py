"""Where the benchmarks find things: the repository and the shared real data beside it.

The real crops are never part of the project: they lie in ``shared/`` next to the repository root
(``../shared/data/mars-mini``, ``../shared/docs/...``). Each benchmark, run as
``.venv/bin/python benchmarks/bench_NAME.py``, imports these paths instead of working them out.
"""

from pathlib import Path

#: The repository root (its ``src/`` and ``tests/``).
ROOT = Path(__file__).resolve().parents[1]
#: The shared folder beside the repository: ``data/`` (real crops) and ``docs/``.
SHARED = ROOT.parent / "shared"
#: The real datasets: ``mars-mini``, ``prcc-mini``, ``ltcc-mini``, ``market1501-mini``.
DATA = SHARED / "data"
