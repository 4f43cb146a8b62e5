#!/usr/bin/env bash
# One command: set up and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks  # lint (pyproject.toml [tool.ruff]); a finding fails the run
exec .venv/bin/python -m pytest -q "$@"
