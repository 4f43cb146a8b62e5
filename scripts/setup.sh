#!/usr/bin/env bash
# Create .venv and install occreid with everything the tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch first, pinned: on this kind of machine torch==2.13.0 resolves to a local CPU wheel.
pipq() {  # pip, quiet; its output is shown only when it fails
  local log; log=$(mktemp)
  if ! .venv/bin/pip install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
}
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  pipq torch==2.13.0
fi
pipq -e '.[schp,test]'  # test brings ray too (tests/test_ray.py runs real local Ray clusters)
.venv/bin/python -c "import occreid, mediapipe, PIL, click, rich"
# Ray must not lift mediapipe's pins: numpy<2 and protobuf<5.
.venv/bin/python - <<'PY'
from importlib.metadata import version
for name, below in (("numpy", 2), ("protobuf", 5)):
    if int(version(name).split(".")[0]) >= below:
        raise SystemExit(f"{name} {version(name)} was installed, but mediapipe needs {name}<{below}")
PY
# Headless Chromium (Debian's package) for the report's browser test; skipped when it cannot be had.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "note: could not install chromium; the report's browser test will be skipped" >&2
fi
