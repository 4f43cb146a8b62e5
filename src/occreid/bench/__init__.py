"""``occreid bench``: a re-ID model's robustness to occlusion, body part by body part.

- :mod:`.grid`: the grid (part x severity x seed), the protocols, the pinned-part occluder;
- :mod:`.run`: each cell made from saved part maps by generate's worker, embedded, scored, stored;
- :mod:`.features`: the baseline descriptor or a user's model, named for the feature cache;
- :mod:`.scoring`: rank-1 and mAP as ``evaluate`` computes them, and mINP;
- :mod:`.store`: the resumable SQLite store and the writes inside the bench folder;
- :mod:`.summary`: drops relative to clean and mRD, the grid's one number; the CSV rows;
- :mod:`.page`: the HTML page; :mod:`.cli`: the command.
"""

from .grid import GRID_PARTS, BenchError, PinnedOccluder, Severity, parse_parts, parse_severities
from .run import BenchConfig, BenchResult, run_bench
from .summary import normalised, relative_drop, summarize

__all__ = ["GRID_PARTS", "BenchConfig", "BenchError", "BenchResult", "PinnedOccluder", "Severity",
            "normalised", "parse_parts", "parse_severities", "relative_drop", "run_bench", "summarize"]
