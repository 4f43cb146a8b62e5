"""The package's import graph: data flows one way (ARCHITECTURE.md), so no import circle and no
upward arrow between the package's units (a top-level module, or a subpackage as a whole).

Every module under ``src/occreid`` is parsed (not imported), and every ``import`` counts, those
inside functions and under ``TYPE_CHECKING`` included: a lazy import that dodges a circle at run
time is still a circle for the reader.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "occreid"

#: The floors, bottom first. A unit may import units of its own floor or of those below it, never above.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"__init__", "errors", "parts", "status", "registry", "console", "cores", "stopping", "orientation",
                    "images"}),
    ("datasets and reading", {"datasets", "containment", "inputs"}),
    ("parsing", {"parser", "partmaps"}),
    ("occlusion", {"occlusion"}),
    ("output formats", {"output", "state", "writer", "saved", "stats", "augment"}),
    ("the run", {"shards", "config", "plan", "resume", "worker", "engines", "preflight", "runner"}),
    ("readers of a run", {"evaluation", "report", "labels", "video", "imagefolder"}),
    ("commands", {"bench", "cli_generate", "cli"}),
]


def _unit(module: str) -> str:
    """``occreid.x.y`` -> ``x`` (a top-level module or a subpackage); ``occreid`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(dotted: str) -> bool:
    path = SRC.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def import_graph() -> dict[str, dict[str, str]]:
    """unit -> {imported unit: one module that imports it (for the message)}."""
    graph: dict[str, dict[str, str]] = {}
    for file in sorted(SRC.rglob("*.py")):
        rel = file.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module.removesuffix(".__init__") if rel.name == "__init__" else module.rpartition(".")[0]
        module = module.removesuffix(".__init__")
        targets: list[str] = []
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base += f".{node.module}" if node.module else ""
                else:
                    base = node.module or ""
                if node.module is None:  # from . import x: x may be a module or a name of the package
                    targets += [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
                else:
                    targets.append(base)
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
        unit = _unit(module)
        graph.setdefault(unit, {})
        for target in targets:
            if target == "occreid" or target.startswith("occreid."):
                other = _unit(target)
                if other != unit:
                    graph[unit].setdefault(other, module)
    return graph


def test_every_unit_has_a_floor():
    declared = set().union(*(units for _, units in LAYERS))
    assert set(import_graph()) <= declared, "add the new module to a floor of LAYERS (and to ARCHITECTURE.md)"


def test_no_import_circle():
    graph = import_graph()
    try:
        tuple(graphlib.TopologicalSorter({u: set(deps) for u, deps in graph.items()}).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_no_upward_arrow():
    floor = {unit: i for i, (_, units) in enumerate(LAYERS) for unit in units}
    upward = [f"{by} ({LAYERS[floor[unit]][0]}) imports {other} ({LAYERS[floor[other]][0]})"
              for unit, deps in import_graph().items() for other, by in deps.items()
              if floor.get(other, -1) > floor.get(unit, len(LAYERS))]
    assert not upward, upward


def test_the_graph_sees_function_local_imports():
    """The checks above would prove nothing if the parser missed imports: cli.py reads videos."""
    assert "video" in import_graph()["cli"]
    assert "partmaps" in import_graph()["occlusion"]


def test_every_module_is_under_450_lines():
    """STYLE: one concept per module, readable in one sitting; split by concept past 450 lines."""
    long = {str(f.relative_to(SRC)): n for f in SRC.rglob("*.py") if (n := len(f.read_text().splitlines())) >= 450}
    assert not long, long
