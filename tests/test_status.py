"""The Status enum: one definition, the same bytes in CSV and JSON as the plain strings."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from occreid.occlusion import NO_PERSON, OCCLUDED, Occluder, OcclusionParams, image_rng
from occreid.stats import manifest_stats, summarize
from occreid.status import OCCLUSION_STATUSES, STATUSES, Status


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
    rows = [{"relpath": "a", "split": "train", "pid": "1", "camera": "0", "clothes": "", "status": str(occ.status),
             "part": "torso", "image_fraction": "0.5", "person_fraction": "1.0", "part_source": "", "part_covered": ""},
            {"relpath": "b", "split": "train", "pid": "2", "camera": "0", "clothes": "", "status": "no_person",
             "part": "", "image_fraction": "", "person_fraction": "", "part_source": "", "part_covered": ""}]
    table = summarize(rows)["all"]
    assert [table[s] for s in STATUSES] == [1, 0, 1, 0, 0, 0]
    assert manifest_stats(rows)["train"]["parts"] == {"torso": 1}
