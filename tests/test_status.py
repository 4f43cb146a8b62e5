"""The Status enum: one definition, the same bytes in CSV and JSON as the plain strings."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from occreid.occlusion import NO_PERSON, OCCLUDED, Occluder, OcclusionParams, image_rng
from occreid.stats import manifest_stats, summarize
from occreid.status import OCCLUSION_STATUSES, STATUSES, Status
from occreid.writer import ManifestRow


def test_members_are_their_text_everywhere():
    assert STATUSES == ("occluded", "part_absent", "no_person", "not_covered", "not_selected", "error")
    for s in Status:
        assert s == s.value and str(s) == s.value and f"{s}" == s.value and f"{s:>14}" == f"{s.value:>14}"
        assert json.dumps({"status": s}) == json.dumps({"status": s.value})
        assert Status(s.value) is s
    buf = io.StringIO()
    csv.writer(buf).writerow([Status.PART_ABSENT, "x"])
    assert buf.getvalue() == "part_absent,x\r\n"
    assert Status.NOT_COVERED.words == "not covered"
    assert set(OCCLUSION_STATUSES) < set(Status) and Status.ERROR not in OCCLUSION_STATUSES


def test_occluder_decisions_carry_members_and_stats_count_them_as_text():
    occluder = Occluder(OcclusionParams())
    parts = np.zeros((64, 32), np.uint8)
    parts[8:60, 8:24] = 2
    occ = occluder.plan(parts, image_rng(0, "a.png"))
    none = occluder.plan(np.zeros((64, 32), np.uint8), image_rng(0, "b.png"))
    assert occ.status is Status.OCCLUDED is OCCLUDED and none.status is Status.NO_PERSON is NO_PERSON
    common = dict(split="train", camera=0, clothes=None, reason="", preset="default", part_choice="present",
                  parser="mediapipe", seed=0, pool_levels=4, pool_kernel=2, threshold=0.0, fill="black")
    written = [ManifestRow(relpath="a", pid=1, status=occ.status, part="torso", image_fraction=0.5,
                           person_fraction=1.0, **common),
               ManifestRow(relpath="b", pid=2, status=none.status, **common)]
    text = [r.to_csv() for r in written]
    assert [t["status"] for t in text] == ["occluded", "no_person"]
    rows = [ManifestRow.from_csv(t) for t in text]  # read back: the same members
    assert rows == written and rows[0].status is Status.OCCLUDED
    table = summarize(rows)["all"]
    assert [table[s] for s in STATUSES] == [1, 0, 1, 0, 0, 0]
    assert manifest_stats(rows)["train"]["parts"] == {"torso": 1}
