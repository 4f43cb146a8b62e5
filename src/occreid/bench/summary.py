"""The grid in a few numbers: mean and spread over seeds, the drop relative to clean per part and
per severity, and one number per model, the **mean relative drop** (mRD).

Definitions (every figure in percent; M is rank-1, mAP or mINP of one setting):

- relative drop of a cell: ``RD(part, severity, seed) = 100 * (M_clean - M_cell) / M_clean``
  (positive when occlusion hurts; undefined where ``M_clean`` is 0 or missing, and then left out);
- ``D(part, severity)``: RD averaged over seeds; mean and standard deviation (sample, n - 1;
  0 for one seed) of M over seeds are reported beside it;
- per part: D averaged over severities; per severity: D averaged over the *body-part rows* (the
  six parts in the grid; the ``any`` row alone when the grid has no body-part row);
- ``mRD`` of a setting: D averaged over body-part rows x severities (each cell weighs the same);
  ``mRD`` of the model: the mean over the dataset's settings; the headline is mRD on mAP.
- normalised, as mCE normalises corruption errors by AlexNet's: ``nRD = 100 * mRD(model) /
  mRD(baseline)`` on the same grid, dataset and protocol (:func:`normalised`); below 100 the model
  loses less to occlusion, relative to its own clean score, than the built-in baseline does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .grid import ANY
from .scoring import METRICS


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(vals)), 4) if vals else None


def _std(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    return round(float(np.std(vals, ddof=1)), 4) if len(vals) > 1 else 0.0


def relative_drop(clean: float | None, value: float | None) -> float | None:
    """``100 * (clean - value) / clean``; None where clean is 0 or either is missing."""
    if clean is None or value is None or not clean:
        return None
    return 100.0 * (clean - value) / clean


def summarize(clean: dict[str, dict], cells: list[dict], grid: dict) -> dict:
    """The ``summary`` object of the bench JSON from its ``clean`` and ``cells`` (see the module doc)."""
    parts, severities = grid["parts"], grid["severities"]
    rows = [p for p in parts if p != ANY] or [p for p in parts if p == ANY]
    by_cell: dict[tuple, list[dict]] = {}
    for c in cells:
        by_cell.setdefault((c["setting"], c["part"], c["severity"]), []).append(c)
    table, per_part, per_severity, mrd = [], {}, {}, {}
    for setting, ref in clean.items():
        drops: dict[tuple, dict] = {}
        for part in parts:
            for sev in severities:
                group = by_cell.get((setting, part, sev), [])
                entry = {"setting": setting, "part": part, "severity": sev, "seeds": len(group),
                         "occluded_share": _mean(c.get("occluded_share") for c in group)}
                d = {}
                for m in METRICS:
                    entry[f"{m}_mean"] = _mean(c[m] for c in group)
                    entry[f"{m}_std"] = _std([c[m] for c in group])
                    d[m] = _mean(relative_drop(ref[m], c[m]) for c in group)
                    entry[f"{m}_drop"] = d[m]
                drops[(part, sev)] = d
                table.append(entry)
        per_part[setting] = {p: {m: _mean(drops[(p, s)][m] for s in severities) for m in METRICS} for p in parts}
        per_severity[setting] = {s: {m: _mean(drops[(p, s)][m] for p in rows) for m in METRICS} for s in severities}
        mrd[setting] = {m: _mean(drops[(p, s)][m] for p in rows for s in severities) for m in METRICS}
    overall = {m: _mean(v[m] for v in mrd.values()) for m in METRICS}
    return {
        "definition": "mRD: relative drop 100*(clean-cell)/clean, averaged over seeds, then over body-part rows x "
                      "severities, then over settings; headline on mAP",
        "rows_averaged": rows,
        "cells": table,
        "per_part": per_part,
        "per_severity": per_severity,
        "mRD": {"settings": mrd, "all": overall},
        "headline": overall["mAP"],
    }


def normalised(report: dict, baseline: dict) -> dict | None:
    """``nRD`` of ``report`` against the built-in baseline's bench of the same grid: 100 * mRD / mRD
    of the baseline, per metric; None when the two benches differ in dataset, grid or protocol, or
    the baseline lost nothing."""
    same = all(report.get(k) == baseline.get(k) for k in ("layout", "grid", "protocol", "settings"))
    if not same:
        return None
    out = {}
    for m in METRICS:
        a, b = report["summary"]["mRD"]["all"][m], baseline["summary"]["mRD"]["all"][m]
        out[m] = None if a is None or not b else round(100.0 * a / b, 2)
    return out


CSV_FIELDS = ("kind", "part", "severity", "seed", "setting", "rank1", "mAP", "mINP", "occluded_share",
              "images_occluded", "rank1_drop", "mAP_drop", "mINP_drop")


def csv_rows(report: dict) -> list[dict]:
    """The CSV's rows: ``clean`` per setting, one ``cell`` per part, severity, seed and setting (with
    its relative drops), one ``mean`` per part, severity and setting (mean over seeds and the drop D),
    and the ``mRD`` per setting and overall."""
    out = [{"kind": "clean", "setting": k, **v} for k, v in report["clean"].items()]
    for c in report["cells"]:
        ref = report["clean"][c["setting"]]
        out.append({"kind": "cell", **c, **{f"{m}_drop": _round(relative_drop(ref[m], c[m])) for m in METRICS}})
    for c in report["summary"]["cells"]:
        out.append({"kind": "mean", "part": c["part"], "severity": c["severity"], "setting": c["setting"],
                    "occluded_share": c["occluded_share"], **{m: c[f"{m}_mean"] for m in METRICS},
                    **{f"{m}_drop": c[f"{m}_drop"] for m in METRICS}})
    for key, v in {**report["summary"]["mRD"]["settings"], "all": report["summary"]["mRD"]["all"]}.items():
        out.append({"kind": "mRD", "setting": key, **{f"{m}_drop": v[m] for m in METRICS}})
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
