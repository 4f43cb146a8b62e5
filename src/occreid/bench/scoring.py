"""A cell's figures: rank-1, mAP and mINP exactly as ``occreid evaluate`` computes them
(``evaluation.protocols.evaluate_setting``; mINP is ``evaluation.metrics``').

mINP (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021;
fast-reid's ``evaluate_rank``): for each query, after the setting's junk items are removed from
its ranking, INP = (number of correct matches) / (rank of the last correct match, 1-based); mINP
is the mean over the queries that have a correct match (the others are skipped, as for mAP). It
says how far down the list the hardest correct match lies, so it punishes a model that finds the
easy matches of an occluded person but loses the others. The ranking is the same stable sort as
``evaluation.metrics`` (ties keep gallery order).
"""

from __future__ import annotations

import numpy as np

from ..evaluation.protocols import FeatureTable, Setting, evaluate_setting

#: The figures the bench reports per setting, in percent.
METRICS = ("rank1", "mAP", "mINP")


def _pct(x: float) -> float | None:
    return None if not np.isfinite(x) else round(100.0 * float(x), 4)


def score(settings: list[Setting], features: FeatureTable) -> dict[str, dict]:
    """Per setting key: rank1, mAP, mINP (percent, None when no query has a match), queries used."""
    out = {}
    for s in settings:
        m = evaluate_setting(s, features)
        out[s.key] = {"rank1": _pct(m.rank(1)), "mAP": _pct(m.mAP), "mINP": _pct(m.mINP),
                      "queries_used": m.num_valid}
    return out
