"""Statistics of a generated dataset (``stats.py``) and the ``occreid stats`` command."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import shared_dataset

from occreid.cli import main
from occreid.occlusion import preset_params
from occreid.runner import GenerateConfig, generate
from occreid.stats import stats_for

BOX = "parsers:BoxParser"


def test_stats_command_prints_and_writes_json(tmp_path):
    src = shared_dataset("market1501-mini")
    generate(GenerateConfig(input=src, output=tmp_path / "r", parser=BOX, occlusion=preset_params("rectangle"),
                            preset="rectangle"))
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "r"), "--json", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "s.json").read_text())
    assert data == stats_for(tmp_path / "r")
    assert data["all"]["images"] == 96 and data["all"]["occluded"] == 96
    assert set(data["all"]["parts"]) <= {"rect_top", "rect_bottom", "rect_left", "rect_right"}
    assert "misses" in result.output and "parts covered" in result.output
