"""The runner's split policy: ``--occlude`` roles or split folders, and ``--fraction``."""

from __future__ import annotations

import numpy as np
from conftest import shared_dataset

from occreid.datasets import read_dataset
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"


def test_split_policy_occludes_only_the_chosen_role_and_fraction(tmp_path):
    src = shared_dataset("ltcc-mini")
    only_query = generate(GenerateConfig(input=src, output=tmp_path / "q", parser=BOX, splits=("query",)))
    status = {r.split: {x.status for x in only_query.rows if x.split == r.split} for r in only_query.rows}
    assert status == {"query": {"occluded"}, "train": {"not_selected"}, "test": {"not_selected"}}
    for r in read_dataset(src).records:
        same = (src / r.relpath).read_bytes() == (tmp_path / "q" / r.relpath).read_bytes()
        assert same == (r.split != "query")
    half = generate(GenerateConfig(input=src, output=tmp_path / "h", parser=BOX, fraction=0.5))
    share = np.mean([r.status == "occluded" for r in half.rows])
    assert 0.4 < share < 0.6
    again = generate(GenerateConfig(input=src, output=tmp_path / "h2", parser=BOX, fraction=0.5))
    assert [r.status for r in again.rows] == [r.status for r in half.rows]
    assert "50%" in next(r.reason for r in half.rows if r.status == "not_selected")


def test_prcc_roles_gallery_is_camera_a(tmp_path):
    res = generate(GenerateConfig(input=shared_dataset("prcc-mini"), output=tmp_path / "g", parser=BOX,
                                  splits=("gallery",)))
    for r in res.rows:
        assert (r.status == "occluded") == (r.relpath.startswith("rgb/test/A/"))
