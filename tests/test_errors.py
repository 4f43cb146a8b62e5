"""One base error carrying its exit code (errors.py), mapped to ``error:`` and the code in one place
(``cli._Main``), and ``--debug`` for the traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from click.testing import CliRunner

import occreid
from occreid.cli import main
from occreid.errors import EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_UNUSABLE, EXIT_USAGE, OccreidError

#: Modules whose imports need optional extras (torch, ray): skipped by the walk, their errors checked by name.
_OPTIONAL = ("occreid.parser.schp", "occreid.evaluation.fastreid")


def _error_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(occreid.__path__, "occreid."):
        if info.name.startswith(_OPTIONAL):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == info.name
                    and not name.startswith("_")):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_public_error_of_occreid_is_an_occreid_error():
    classes = _error_classes()
    assert "occreid.config.RunError" in classes and "occreid.bench.grid.BenchError" in classes
    strays = sorted(name for name, cls in classes.items()
                    if not issubclass(cls, OccreidError) and cls.__name__ not in ("Terminated",))
    assert not strays, strays


def test_exit_codes_follow_the_readme():
    classes = _error_classes()
    assert classes["occreid.config.RunError"].exit_code == EXIT_USAGE
    assert classes["occreid.output.OutputError"].exit_code == EXIT_OUTPUT
    assert classes["occreid.evaluation.output.OutputError"].exit_code == EXIT_OUTPUT
    assert classes["occreid.report.page.ReportOutputError"].exit_code == EXIT_OUTPUT
    assert classes["occreid.engines.WorkerLost"].exit_code == EXIT_INTERRUPTED
    assert classes["occreid.video.NoPersonFound"].exit_code == EXIT_UNUSABLE
    assert issubclass(classes["occreid.output.OutputError"], OSError)  # library callers still catch OSError


def test_an_error_is_one_line_and_debug_adds_the_traceback(tmp_path):
    plain = CliRunner().invoke(main, ["merge", str(tmp_path)])
    assert plain.exit_code == EXIT_USAGE
    expected = f"error: {tmp_path} holds no shards (made with generate --shard I/N); nothing to merge."
    assert plain.output.strip() == expected
    debug = CliRunner().invoke(main, ["--debug", "merge", str(tmp_path)])
    assert debug.exit_code == EXIT_USAGE
    assert "Traceback (most recent call last)" in debug.output and "ShardError" in debug.output
    assert debug.output.rstrip().endswith("nothing to merge.")
