#!/usr/bin/env bash
# Create .venv and install occreid into it, saying what it does before each step. Idempotent.
#
#   bash scripts/setup.sh          the core package: what `occreid` needs to run (scripts/demo.sh uses this);
#                                  installs nothing outside .venv
#   bash scripts/setup.sh --test   the core package plus what the tests need, into the same .venv: torch
#                                  (CPU), Ray, ONNX Runtime, pytest, ruff, mypy; and, as root with apt-get,
#                                  Debian's chromium package for the report's browser test
#                                  (scripts/test.sh uses this)
#
# One .venv for both: the demo's set-up is a part of the tests' one, so running the tests after the demo
# only adds the extras. PYTHON picks the interpreter (default python3, 3.10 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") extras=core ;;
  --test) extras=test ;;
  *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

say() { printf '==> %s\n' "$*"; }
pip_install() {  # pip with its own output shown (progress included), less one machine-specific warning
  .venv/bin/python -m pip install --disable-pip-version-check "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
}
# A stamp per level records the pyproject.toml it installed: a rerun with the same one skips pip.
stamp=".venv/.occreid-$extras"
wanted="$(sha1sum pyproject.toml | cut -c1-40)"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv with $("$PY" --version 2>&1) ($PY)"
  "$PY" -m venv .venv
fi

installed() { [ -f ".venv/.occreid-$1" ] && [ "$(cat ".venv/.occreid-$1")" = "$wanted" ]; }
if installed "$extras" || { [ "$extras" = core ] && installed test; }; then
  say "occreid ($extras) is already installed in .venv for this pyproject.toml; nothing to install"
else
  if [ "$extras" = test ]; then
    say "installing what the tests need into .venv (about 1.3 GB more, most of it torch and Ray)"
    # torch first, pinned: on this kind of machine torch==2.13.0 resolves to a local CPU wheel
    if ! .venv/bin/python -c "import torch" 2>/dev/null; then
      say "pip: torch 2.13.0 (CPU), for the SCHP parser's tests and the embed tests' TorchScript models"
      pip_install torch==2.13.0
    fi
    say "pip: occreid with its [schp,test] extras (pytest, hypothesis, onnxruntime, onnx, onnxscript, Ray, ruff, mypy)"
    pip_install -e '.[schp,test]'
  else
    say "installing occreid's core package into .venv (the embedded parser: mediapipe, LiteRT; no torch, no Ray)"
    pip_install -e .
  fi
  say "checking the installed packages"
  .venv/bin/python -c "import occreid, mediapipe, PIL, click, rich"
  # Ray (tests) must not lift mediapipe's pins: numpy<2 and protobuf<5.
  .venv/bin/python - <<'PY'
from importlib.metadata import version
for name, below in (("numpy", 2), ("protobuf", 5)):
    if int(version(name).split(".")[0]) >= below:
        raise SystemExit(f"{name} {version(name)} was installed, but mediapipe needs {name}<{below}")
PY
  echo "$wanted" > "$stamp"
  say ".venv now holds $(du -sh .venv | cut -f1)"
fi

if [ "$extras" = test ]; then
  # Headless Chromium (Debian's package) for the report's browser test; that test is skipped without it.
  if command -v chromium >/dev/null 2>&1; then
    say "Chromium found ($(command -v chromium)): the report's browser test will run"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium package system-wide (apt-get, without recommended packages; a minute"
    say "or two) so that the report's browser test can load the page in headless Chromium"
    log=$(mktemp)
    if (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium) \
        >"$log" 2>&1 && command -v chromium >/dev/null 2>&1; then
      grep -E 'newly installed|^Need to get|^After this operation' "$log" | sed 's/^/    apt: /' || true
      say "chromium installed: the report's browser test will run"
    else
      tail -n 5 "$log" | sed 's/^/    apt: /'
      say "could not install chromium: the report's browser test will be skipped"
    fi
    rm -f "$log"
  else
    say "no chromium, and installing it needs root and apt-get: the report's browser test will be skipped"
  fi
  # torchvision does not install beside the CPU torch; its ImageFolder code is read from its wheel by
  # tests/public_torchvision.py (downloaded without dependencies, never installed; about 7 MB)
  if ! ls .venv/wheels/torchvision-*.whl >/dev/null 2>&1; then
    say "pip download: torchvision 0.29.1's wheel into .venv/wheels (not installed): the ImageFolder tests read its code"
    .venv/bin/pip download -q --no-deps -d .venv/wheels torchvision==0.29.1 \
      || say "could not download torchvision's wheel: the tests against torchvision's ImageFolder will be skipped"
  fi
fi
