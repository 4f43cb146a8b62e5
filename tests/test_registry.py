"""The one registry: parsers, fills and layouts are named, listed and built the same way."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from occreid.datasets import DATASETS, Layout, LayoutError, get_layout, register_dataset
from occreid.occlusion import FILLS, Occluder, Occlusion, OcclusionParams
from occreid.parser import PARSERS, Parser, make_parser
from occreid.registry import Registry, RegistryError, resolve


@pytest.fixture
def scratch(monkeypatch):
    """Registrations a test makes are undone after it (the registries are process-wide)."""
    for reg in (DATASETS, FILLS, PARSERS):
        monkeypatch.setattr(reg, "_entries", dict(reg._entries))
        monkeypatch.setattr(reg, "_help", dict(reg._help))


def test_registered_names_keep_their_order_and_resolve_lazily():
    reg = Registry("thing")
    reg.register("late", "fractions:Fraction", help="a lazy reference")
    reg.register("now", dict)
    assert list(reg) == ["late", "now"] and len(reg) == 2 and "late" in reg and "nope" not in reg
    assert isinstance(reg._entries["late"], str)  # not imported before first use
    from fractions import Fraction

    assert reg["late"] is Fraction and reg.create("late", 1, 2) == Fraction(1, 2)
    assert reg.choices_help() == "late: a lazy reference; now: " + dict.__doc__.strip().splitlines()[0]


def test_unknown_names_and_duplicates_are_one_sentence_errors():
    reg = Registry("fill")
    reg.register("black", lambda: 0)
    with pytest.raises(RegistryError, match=r"^unknown fill 'pink'; use one of black\.$"):
        reg.create("pink")
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("black", lambda: 1)
    with pytest.raises(RegistryError, match="unknown fill"):
        reg.create("os:getcwd")  # no plugins for this registry
    with pytest.raises(ValueError):  # RegistryError is a ValueError: the CLI shows it as one sentence
        reg.lookup("x")


def test_plugin_references_resolve_by_the_same_path_as_builtins():
    assert resolve("os.path:join") is __import__("os").path.join
    with pytest.raises(RegistryError, match="cannot import 'no_such_module_xyz'"):
        resolve("no_such_module_xyz:Thing", "parser")
    with pytest.raises(RegistryError, match="has no 'Nope'"):
        resolve("os:Nope", "parser")
    with pytest.raises(RegistryError, match="package.module:Class"):
        resolve(":Nope", "parser")


def test_parsers_builtin_and_plugin_are_built_by_make_parser(tmp_path, monkeypatch):
    assert list(PARSERS) == ["mediapipe", "mediapipe-graph", "mediapipe-movenet", "schp"]
    assert "mediapipe" in PARSERS and ", ".join(PARSERS) == "mediapipe, mediapipe-graph, mediapipe-movenet, schp"
    (tmp_path / "my_parsers.py").write_text(
        "import numpy as np\nfrom occreid.parser import ParseResult, Parser\n"
        "class Empty(Parser):\n    name = 'empty'\n"
        "    def __init__(self, reason='none here'):\n        self.reason = reason\n"
        "    def parse(self, rgb):\n        return ParseResult(None, self.reason)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    parser = make_parser("my_parsers:Empty", reason="nobody")
    assert isinstance(parser, Parser) and parser.parse(np.zeros((8, 8, 3), np.uint8)).reason == "nobody"
    listed = "mediapipe, mediapipe-graph, mediapipe-movenet, schp"
    with pytest.raises(ValueError, match=f"unknown parser 'nope'; use one of {listed} or"):
        make_parser("nope")
    sys.modules.pop("my_parsers", None)


def test_fills_registry_drives_occluder_apply_and_accepts_a_new_fill(scratch):
    assert list(FILLS) == ["black", "mean", "noise", "blur", "texture"]
    image = np.full((32, 16, 3), 90, np.uint8)
    mask = np.zeros((32, 16), bool)
    mask[4:12, 2:9] = True
    occ = Occlusion("occluded", mask, (2,))
    name = "test-white"
    FILLS.register(name, lambda colour, m, params, seed: np.where(m[..., None], 255, colour).astype(colour.dtype))
    out = Occluder(OcclusionParams(fill=name)).apply(image, occ)
    assert (out[mask] == 255).all() and (out[~mask] == 90).all()
    with pytest.raises(ValueError, match="fill must be one of black, mean"):
        OcclusionParams(fill="pink")


def test_layouts_are_the_dataset_registry_and_take_a_new_declaration(tmp_path, scratch):
    assert list(DATASETS)[:3] == ["prcc", "ltcc", "market"]
    assert list(DATASETS)[-1] == "folder" and DATASETS["ltcc"].name == "ltcc"
    with pytest.raises(LayoutError, match="unknown layout 'nope'"):
        get_layout(tmp_path, "nope")
    with pytest.raises(TypeError):
        register_dataset(dict)

    class Flat(Layout):
        """Flat test layout."""

        name, title, expected = "test-flat", "flat", "test-flat: a MARKER file"

        def matches(self, root):
            return (root / "MARKER").is_file()

        def record(self, relpath):
            return None

    register_dataset(Flat)
    (tmp_path / "MARKER").write_text("x")
    assert get_layout(tmp_path).name == "test-flat"  # detection tries it after the built-ins
    assert DATASETS.describe("test-flat") == "flat"

