#!/usr/bin/env bash
# Create .venv and install occreid with everything the tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch first, pinned: on this kind of machine torch==2.13.0 resolves to a local CPU wheel.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[schp,test]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import occreid, mediapipe, PIL, click, rich" 
