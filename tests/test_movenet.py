"""``--parser mediapipe-movenet``: MoveNet Thunder's keypoints in the embedded parser's maps.

The keypoint substitution and the same-person check are pure functions; the model wrapper and the
parser are tested with small ONNX models written here (a constant output where the keypoints are
wanted), since MoveNet itself is fetched and converted by scripts/get-movenet.sh, not shipped.
A test with the converted model runs when ``OCCREID_MOVENET`` (or the default path) holds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dataset
from harness import cli, one_sentence

from occreid.parser import ParserError, make_parser, options_from_cli
from occreid.parser.movenet import COCO_TO_BLAZEPOSE, FOLLOWERS, decode, default_path, same_person, substitute


def landmarks(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lm = np.zeros((33, 3))
    lm[:, 0] = rng.uniform(10, 100, 33)
    lm[:, 1] = rng.uniform(10, 240, 33)
    lm[:, 2] = rng.uniform(0.3, 1.0, 33)
    return lm


def test_sure_keypoints_replace_their_landmarks_and_hands_and_feet_follow():
    lm = landmarks()
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = lm[list(COCO_TO_BLAZEPOSE), 0] + 5, lm[list(COCO_TO_BLAZEPOSE), 1] - 3, 0.9
    kp[9, 2] = 0.1  # left wrist unsure: its landmark and the left hand stay
    out = substitute(lm, kp, 0.2)
    for k, b in enumerate(COCO_TO_BLAZEPOSE):
        expected = lm[b, :2] if k == 9 else kp[k, :2]
        np.testing.assert_allclose(out[b, :2], expected)
    np.testing.assert_allclose(out[:, 2], lm[:, 2])  # visibilities are the pose model's
    for f in FOLLOWERS[16] + FOLLOWERS[27] + FOLLOWERS[28]:  # right hand, both feet: moved with their joint
        np.testing.assert_allclose(out[f, :2], lm[f, :2] + [5, -3])
    for f in FOLLOWERS[15]:  # the left hand stays with its unsure wrist
        np.testing.assert_allclose(out[f, :2], lm[f, :2])
    untouched = [i for i in range(33) if i not in COCO_TO_BLAZEPOSE and all(i not in v for v in FOLLOWERS.values())]
    np.testing.assert_array_equal(out[untouched], lm[untouched])  # mouth, inner eye corners ...
    assert out is not lm and np.array_equal(lm, landmarks())  # a copy; the input is left alone


def test_nan_scores_and_wrong_shapes():
    lm = landmarks()
    kp = np.full((17, 3), np.nan)
    np.testing.assert_array_equal(substitute(lm, kp, 0.2), lm)
    with pytest.raises(ValueError, match="17, 3"):
        substitute(lm, np.zeros((33, 3)), 0.2)


def test_same_person_needs_three_sure_torso_points_on_the_mask():
    person = np.zeros((256, 128), dtype=bool)
    person[60:200, 40:90] = True
    kp = np.zeros((17, 3))
    kp[[5, 6, 11, 12], :2] = [[45, 70], [85, 70], [50, 150], [80, 150]]
    kp[[5, 6, 11, 12], 2] = 0.8
    assert same_person(kp, person, 0.2)
    kp[11, :2] = [10, 230]  # a hip on someone else
    assert not same_person(kp, person, 0.2)
    kp[11, 2] = 0.1  # ... unless MoveNet is unsure of it: three sure points on the mask
    assert same_person(kp, person, 0.2)
    kp[12, 2] = 0.1  # two sure points are not enough
    assert not same_person(kp, person, 0.2)
    kp[[11, 12], :2], kp[[11, 12], 2] = [[50, 150], [80, 150]], 0.8
    kp[5, :2] = [38, 58]  # 2 px off the mask's corner: within reach
    assert same_person(kp, person, 0.2)
    kp[5, :2] = [35, 55]
    assert not same_person(kp, person, 0.2)
    kp[5, :2] = [np.nan, 70]  # a broken model's output is nobody's
    assert not same_person(kp, person, 0.2)


# ------------------------------------------------------------------------------------------------
# The model wrapper and the parser, with constant ONNX models
# ------------------------------------------------------------------------------------------------


def save_model(graph, path: Path) -> Path:
    """``graph`` (an ``onnx.helper`` graph) saved as an opset-17 model ONNX Runtime reads."""
    onnx = pytest.importorskip("onnx")
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def constant_model(path: Path, yxs: np.ndarray, size: int = 256) -> Path:
    """An ONNX model with MoveNet SinglePose's input (1 x size x size x 3 int32) whose output is
    ``yxs`` (17 x 3: y, x in [0, 1] of the input, score) whatever the picture."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    const = numpy_helper.from_array(np.asarray(yxs, np.float32).reshape(1, 1, 17, 3), "keypoints")
    graph = helper.make_graph(
        [helper.make_node("Shape", ["input:0"], ["shape"]),  # the input is read, as MoveNet's is
         helper.make_node("Identity", ["keypoints"], ["Identity:0"])],
        "constant_movenet",
        [helper.make_tensor_value_info("input:0", TensorProto.INT32, [1, size, size, 3])],
        [helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, [1, 1, 17, 3])],
        initializer=[const])
    return save_model(graph, path)


def test_keypoints_come_back_in_the_pictures_pixels(tmp_path):
    pytest.importorskip("onnxruntime")
    from occreid.parser.movenet import MoveNet

    yxs = np.zeros((17, 3))
    yxs[0] = [0.5, 0.5, 0.9]  # the input's centre
    yxs[1] = [0.0, 0.25, 0.4]  # top edge, a quarter across: the left bar's inner edge on a 1:2 picture
    net = MoveNet(constant_model(tmp_path / "m.onnx", yxs), threads=1)
    kp = net.keypoints(np.zeros((256, 128, 3), np.uint8))  # letterboxed: a 64 px bar each side
    np.testing.assert_allclose(kp[0], [64, 128, 0.9], atol=1e-4)
    np.testing.assert_allclose(kp[1], [0, 0, 0.4], atol=1e-4)
    kp = net.keypoints(np.zeros((100, 300, 3), np.uint8))  # wide: 100 px bars above and below, shrunk
    np.testing.assert_allclose(kp[0], [150, 50, 0.9], atol=1e-4)
    np.testing.assert_allclose(kp[1, :2], [75, -100], atol=1e-4)
    net.close()


def planted_maps(rows: int, cols: int, centre: tuple[int, int], joints: np.ndarray) -> dict[str, np.ndarray]:
    """MoveNet's four head maps (``HEADS``) on a rows x cols grid with one person: its centre peak
    (0.6) at ``centre``, its regression there pointing 0.5 cell off each of ``joints`` (17 x 2
    grid cells, y, x), each joint's heatmap peak (0.5) at that cell with an offset of (0.25, -0.5)
    to the joint; plus a stronger centre peak (0.9) in the top-left corner and, for every joint, a
    stronger heatmap peak (0.9) far from the regressed point: MoveNet's weighting must ignore both."""
    center = np.full((1, rows, cols), 0.01, np.float32)
    center[0, centre[0], centre[1]] = 0.6
    center[0, 1, 1] = 0.9
    regress = np.zeros((34, rows, cols), np.float32)
    heatmap = np.full((17, rows, cols), 0.01, np.float32)
    offset = np.zeros((34, rows, cols), np.float32)
    for k, (y, x) in enumerate(joints):
        cy, cx = int(y - 0.25), int(x + 0.5)  # the cell whose offset reaches the joint
        regress[2 * k:2 * k + 2, centre[0], centre[1]] = (cy + 0.5 - centre[0], cx - 0.5 - centre[1])
        heatmap[k, cy, cx] = 0.5
        heatmap[k, (cy + rows // 2) % rows, (cx + cols // 2) % cols] = 0.9
        offset[2 * k:2 * k + 2, cy, cx] = (0.25, -0.5)
    return {"center": center, "regress": regress, "heatmap": heatmap, "offset": offset}


def _joints(rows: int, cols: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.column_stack([rng.integers(2, rows - 2, 17) + 0.25, rng.integers(2, cols - 2, 17) - 0.5])


def test_decode_takes_the_centred_person_and_each_joint_near_its_regressed_point():
    """MoveNet's decoding on a 64 x 32 grid (a 1:2 picture), planted maps: the person nearer the
    grid's centre wins over a stronger one in the corner (unless its centre peak is faint), each
    joint is the heatmap peak nearest its regressed point (not the strongest), refined by its
    offset; the score is the heatmap there."""
    joints = _joints(64, 32)
    maps = planted_maps(64, 32, (32, 16), joints)
    got = decode(maps["center"], maps["regress"], maps["heatmap"], maps["offset"])
    np.testing.assert_allclose(got[:, :2], joints, atol=1e-6)
    np.testing.assert_allclose(got[:, 2], 0.5)
    maps["center"][0, 32, 16] = 0.02  # a faint centre: the corner's person is taken (no regression: its
    corner = decode(maps["center"], maps["regress"], maps["heatmap"], maps["offset"])  # joints near (1, 1))
    assert not np.allclose(corner[:, :2], joints)
    assert np.hypot(corner[:, 0] - 1, corner[:, 1] - 1).mean() < np.hypot(joints[:, 0] - 1, joints[:, 1] - 1).mean()


def heads_model(path: Path, maps: dict[str, np.ndarray], height: int, width: int) -> Path:
    """An ONNX model in the heads form (``scripts/movenet_to_onnx.py``) for a height x width input
    whose four outputs are ``maps`` whatever the picture."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Shape", ["input:0"], ["shape"])]
    inits, outputs = [], []
    for name, value in maps.items():
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32)[None], f"{name}_value"))
        nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *value.shape]))
    graph = helper.make_graph(nodes, "constant_heads",
                              [helper.make_tensor_value_info("input:0", TensorProto.INT32, [1, height, width, 3])],
                              outputs, initializer=inits)
    return save_model(graph, path)


def test_the_heads_form_runs_a_crop_without_the_letterbox(tmp_path):
    """The heads form takes a 1:2 picture at 256 x 128 (a 64 x 32 grid) and gives the planted
    joints in the picture's pixels: 4 px a cell, halved for a 128 x 64 picture (upscaled); a
    256 x 100 picture is padded to 128 wide, 14 px of black on its left."""
    pytest.importorskip("onnxruntime")
    from occreid.parser.movenet import MoveNet

    joints = _joints(64, 32)
    net = MoveNet(heads_model(tmp_path / "h.onnx", planted_maps(64, 32, (32, 16), joints), 256, 128))
    assert net.heads
    for h, w, left in ((256, 128, 0), (128, 64, 0), (256, 100, 14)):
        kp = net.keypoints(np.zeros((h, w, 3), np.uint8))
        np.testing.assert_allclose(kp[:, :2], (joints[:, ::-1] * 4 - [left, 0]) * h / 256, atol=1e-4)
        np.testing.assert_allclose(kp[:, 2], 0.5)
    net.close()


def test_a_missing_or_foreign_model_is_refused_in_one_sentence(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from occreid.parser.movenet import MoveNet

    with pytest.raises(FileNotFoundError, match="get-movenet.sh"):
        MoveNet(tmp_path / "absent.onnx")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 224, 224])])
    with pytest.raises(ValueError, match="not MoveNet"):
        MoveNet(save_model(graph, tmp_path / "other.onnx"))
    three = {k: v for k, v in planted_maps(64, 32, (32, 16), _joints(64, 32)).items() if k != "offset"}
    with pytest.raises(ValueError, match="not MoveNet"):  # a heads form without its offsets
        MoveNet(heads_model(tmp_path / "three.onnx", three, 256, 128))
    monkeypatch.setenv("OCCREID_MOVENET", str(tmp_path / "absent.onnx"))
    assert default_path() == tmp_path / "absent.onnx"
    with pytest.raises(ParserError, match="scripts/get-movenet.sh"):
        options_from_cli("mediapipe-movenet", {"checkpoint": None, "device": None, "batch_size": None})
    with pytest.raises(ParserError, match=r"apply to --parser schp \(and --checkpoint to mediapipe-movenet\) only"):
        options_from_cli("mediapipe-movenet", {"checkpoint": None, "device": "cpu", "batch_size": None})


def test_the_cli_refuses_a_missing_model_before_the_first_image(tmp_path):
    pytest.importorskip("onnxruntime")
    src = shared_dataset("market1501-mini")
    out = tmp_path / "out"
    res = cli("generate", src, "--out", out, "--parser", "mediapipe-movenet",
              env={"OCCREID_MOVENET": str(tmp_path / "absent.onnx")})
    assert res.returncode == 2
    assert "scripts/get-movenet.sh" in one_sentence(res)
    assert not out.exists()


def _crops(n: int) -> list[np.ndarray]:
    from PIL import Image

    root = shared_dataset("prcc-mini")
    files = sorted(root.rglob("*.jpg"))[:: 97][:n]
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def test_unsure_or_other_keypoints_leave_the_maps_as_the_embedded_parsers(tmp_path):
    """All scores under the threshold, or a sure skeleton off every person mask (in the corner):
    every map, reason and score is the embedded parser's."""
    pytest.importorskip("onnxruntime")
    unsure = np.zeros((17, 3))
    unsure[:, :2], unsure[:, 2] = 0.5, 0.1
    corner = np.zeros((17, 3))
    corner[:, :2], corner[:, 2] = 0.01, 0.99
    plain = make_parser("mediapipe")
    images = _crops(4)
    expected = [plain.parse(im) for im in images]
    for name, yxs in (("unsure", unsure), ("corner", corner)):
        parser = make_parser("mediapipe-movenet", checkpoint=str(constant_model(tmp_path / f"{name}.onnx", yxs)))
        for im, want in zip(images, expected, strict=True):
            got = parser.parse(im)
            assert (got.parts is None) == (want.parts is None) and got.reason == want.reason
            if want.parts is not None:
                assert np.array_equal(got.parts, want.parts) and got.quality == want.quality
        parser.close()
    plain.close()


def test_a_sure_wrist_moves_the_lower_arm_to_it(tmp_path):
    """MoveNet's keypoints placed on the pose model's own landmarks except one wrist, moved down
    the body: the map's lower arm reaches the new wrist, which the plain map leaves elsewhere."""
    pytest.importorskip("onnxruntime")

    im = _crops(1)[0]
    h, w = im.shape[:2]
    plain = make_parser("mediapipe")
    want = plain.parse(im)
    assert want.parts is not None
    out = plain._framed(im, plain.tight_scale, (h, w))  # the tight pass, the map's pass on a clear crop
    lm = out.landmarks[:33, :2]
    plain.close()
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    pts = lm[list(COCO_TO_BLAZEPOSE)].copy()
    hip_y = (lm[23, 1] + lm[24, 1]) / 2
    pts[10] = [lm[24, 0], hip_y + 0.4 * (lm[28, 1] - hip_y)]  # right wrist: down by the right thigh
    yxs = np.column_stack([(pts[:, 1] + top) / side, (pts[:, 0] + left) / side, np.full(17, 0.9)])
    parser = make_parser("mediapipe-movenet", checkpoint=str(constant_model(tmp_path / "w.onnx", yxs)))
    got = parser.parse(im)
    parser.close()
    assert got.parts is not None
    x, y = int(round(pts[10, 0])), int(round(pts[10, 1]))
    window = (slice(max(0, y - 3), y + 4), slice(max(0, x - 3), x + 4))
    assert (got.parts[window] == 4).any()  # lower arm at the new wrist
    assert not (want.parts[window] == 4).any()
    assert not np.array_equal(got.parts, want.parts)


@pytest.fixture
def converted() -> Path:
    """MoveNet Thunder as scripts/get-movenet.sh converts it, or skip with the reason."""
    pytest.importorskip("onnxruntime")
    path = default_path()
    if not path.is_file():
        pytest.skip(f"MoveNet Thunder is not converted at {path} (bash scripts/get-movenet.sh; OCCREID_MOVENET)")
    return path


def test_the_converted_model_finds_the_joints_of_a_real_crop(converted):
    """With MoveNet Thunder converted (scripts/get-movenet.sh): its sure keypoints on a clear prcc
    crop lie on the person's map, head above hips above knees above ankles."""
    from occreid.parser.movenet import MoveNet

    im = _crops(1)[0]
    kp = MoveNet(converted).keypoints(im)
    parts = make_parser("mediapipe").parse(im).parts
    assert parts is not None
    sure = kp[kp[:, 2] >= 0.3]
    assert len(sure) >= 12
    h, w = parts.shape

    def near_map(x: float, y: float, r: int) -> bool:  # within r px of the map
        x0, y0 = int(x), int(y)
        return bool(parts[max(0, y0 - r):min(h, y0 + r + 1), max(0, x0 - r):min(w, x0 + r + 1)].any())

    # all but the ankles within 3 px (bench_parts.py's tolerance); on this crop the ankles are on the
    # shoes, below where the pose model's mask (and so the map) ends
    assert all(near_map(x, y, 3) for x, y, s in kp[:15] if s >= 0.3)
    assert min(kp[15, 1], kp[16, 1]) > max(kp[13, 1], kp[14, 1])  # ankles below knees
    assert kp[0, 1] < (kp[11, 1] + kp[12, 1]) / 2 < (kp[15, 1] + kp[16, 1]) / 2


def test_the_converter_adds_the_fused_ops_missing_attribute(tmp_path):
    """scripts/movenet_to_onnx.py's repair, on a two-node graph model written here (the conversion
    itself needs tensorflow and runs in get-movenet.sh's throwaway environment)."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("movenet_to_onnx", Path(__file__).parents[1] / "scripts"
                                                  / "movenet_to_onnx.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    graph = {"modelTopology": {"node": [
        {"name": "c", "op": "_FusedConv2D", "input": ["x", "w", "b"], "attr": {"num_args": {"i": "1"}}},
        {"name": "e", "op": "_FusedConv2D", "input": ["c", "w3", "b3", "p3"], "attr": {}},
        {"name": "d", "op": "FusedDepthwiseConv2dNative", "input": ["c", "w2", "b2", "p"], "attr": {}},
        {"name": "r", "op": "Relu", "input": ["d"], "attr": {}}]},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": []}]}
    (src / "model.json").write_text(json.dumps(graph))
    (src / "group1-shard1of1.bin").write_bytes(b"\x00" * 8)
    out = module.repaired(src / "model.json", dst)
    nodes = {n["name"]: n for n in json.loads(out.read_text())["modelTopology"]["node"]}
    assert nodes["c"]["attr"]["TArgs"] == {"list": {"type": ["DT_FLOAT"]}}
    assert nodes["e"]["attr"]["TArgs"] == {"list": {"type": ["DT_FLOAT", "DT_FLOAT"]}}  # from its inputs
    assert "TArgs" not in nodes["d"]["attr"] and "TArgs" not in nodes["r"]["attr"]  # TensorFlow takes none there
    assert (dst / "group1-shard1of1.bin").read_bytes() == b"\x00" * 8
    assert json.loads((src / "model.json").read_text()) == graph  # the original is left alone


def test_the_converter_cuts_the_graph_at_the_heads_with_a_free_input_size(tmp_path):
    """scripts/movenet_to_onnx.py's ``heads`` on a small graph shaped like tf2onnx's (a fixed
    256 x 256 input; four head tensors under the names the script knows; a decoding after them):
    the cut keeps what the heads need, drops the decoding, names the outputs, and runs at 256 x 128."""
    import importlib.util

    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    from onnx import TensorProto, helper

    spec = importlib.util.spec_from_file_location("movenet_to_onnx", Path(__file__).parents[1] / "scripts"
                                                  / "movenet_to_onnx.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    nodes = [helper.make_node("Cast", ["input:0"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["f"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("AveragePool", ["nchw"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4])]
    for i, tensor in enumerate(module.HEADS.values()):
        nodes.append(helper.make_node("Mul" if i % 2 else "Add", ["pooled", "one"], [tensor]))
    nodes.append(helper.make_node("Concat", list(module.HEADS.values()), ["Identity:0"], axis=1))  # "decoding"
    graph = helper.make_graph(
        nodes, "tf2onnx_like", [helper.make_tensor_value_info("input:0", TensorProto.INT32, [1, 256, 256, 3])],
        [helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, [1, 12, 64, 64])],
        initializer=[onnx.numpy_helper.from_array(np.ones(1, np.float32), "one")])
    whole = save_model(graph, tmp_path / "whole.onnx")
    module.heads(whole, tmp_path / "heads.onnx")
    cut = onnx.load(str(tmp_path / "heads.onnx"))
    assert "Concat" not in {n.op_type for n in cut.graph.node}
    session = ort.InferenceSession(str(tmp_path / "heads.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(module.HEADS)
    picture = np.arange(256 * 128 * 3, dtype=np.int32).reshape(1, 256, 128, 3) % 251
    maps = session.run(None, {"input:0": picture})
    assert all(m.shape == (1, 3, 64, 32) for m in maps)
    pooled = picture.astype(np.float32).transpose(0, 3, 1, 2).reshape(1, 3, 64, 4, 32, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(maps[0], pooled + 1, rtol=1e-5)
    np.testing.assert_allclose(maps[1], pooled, rtol=1e-5)
    with pytest.raises(SystemExit, match="no tensor"):  # another model: refused, with the name it lacks
        module.heads(save_model(helper.make_graph(nodes[:3], "other", graph.input, [
            helper.make_tensor_value_info("pooled", TensorProto.FLOAT, None)]), tmp_path / "o.onnx"),
            tmp_path / "o_heads.onnx")


def test_outputs_are_the_same_bytes_with_one_or_two_workers(tmp_path, converted):
    """With the converted model: two workers write the same twin, part maps and manifest as one
    (ONNX Runtime runs with one thread, so the keypoints do not depend on the worker)."""
    from harness import outputs

    from occreid.runner import GenerateConfig, generate

    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(shared_dataset("ltcc-mini").rglob("*.png"))[::40][:12]:
        (src / f.name).write_bytes(f.read_bytes())
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = generate(GenerateConfig(input=src, output=out, layout="folder", workers=workers, save_parts=True,
                                         parser="mediapipe-movenet", parser_options={"checkpoint": str(converted)}))
        assert {r.status for r in result.rows} <= {"occluded", "no_person"}
        runs[workers] = (outputs(out), (out / "_occreid" / "manifest.csv").read_bytes(),
                         {p.name: p.read_bytes() for p in (out / "_occreid" / "parts").rglob("*.png")})
    assert runs[1] == runs[2]
    assert len(runs[1][2]) >= 10  # the maps were made


def _two_people() -> tuple[np.ndarray, tuple[float, float, float], tuple[float, float, float]]:
    """Two real prcc people on one 192 x 256 grey picture, apart: a small one at the left edge and
    a larger one nearer the centre line; with each one's region (centre x, y, side) to frame."""
    import cv2

    a, b = _crops(2)
    pic = np.full((256, 192, 3), 128, np.uint8)
    pic[64:192, 0:64] = cv2.resize(a, (64, 128), interpolation=cv2.INTER_AREA)
    pic[32:224, 64:160] = cv2.resize(b, (96, 192), interpolation=cv2.INTER_AREA)
    return pic, (32.0, 128.0, 150.0), (112.0, 128.0, 230.0)


def _as_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """A pose pass's landmarks (picture pixels) as MoveNet's 17 keypoints, all sure."""
    return np.column_stack([landmarks[list(COCO_TO_BLAZEPOSE), :2], np.full(17, 0.9)])


def test_a_pass_framed_on_movenets_person_replaces_a_neighbours_pass(tmp_path):
    """The pose model's pass on the small person at the edge, MoveNet on the larger one nearer the
    centre line: one more pass, framed on MoveNet's keypoints, gives a map of that person instead.
    MoveNet on the same person, or ``movenet_apart=0``, leaves the pass as it was."""
    pytest.importorskip("onnxruntime")
    from occreid.parser.subject import centre_line

    pic, roi_a, roi_b = _two_people()
    model = constant_model(tmp_path / "m.onnx", np.zeros((17, 3)))  # unused: the keypoints are set below
    parser = make_parser("mediapipe-movenet", checkpoint=str(model))
    off = make_parser("mediapipe-movenet", checkpoint=str(model), movenet_apart=0)
    size = parser._mask_size(*pic.shape[:2])
    on_a = parser._run_model().run(pic, roi_a, size)
    on_b = parser._run_model().run(pic, roi_b, size)
    parts_a, why = parser._judge(on_a, pic)
    assert parts_a is not None, why
    assert centre_line(on_a.landmarks) < 64 <= centre_line(on_b.landmarks)  # each pass on its person

    parser._keypoints = off._keypoints = _as_keypoints(on_b.landmarks)
    parts, reason, source, out = parser._movenet_subject(pic, parts_a, "", "pose", on_a)
    assert parser.stats["movenet_pass"] == 1 and out is not on_a and parts is not None and source == "pose"
    assert 64 <= centre_line(out.landmarks) < 160  # the larger person's skeleton
    ys, xs = np.nonzero(parts)
    assert np.median(xs) * pic.shape[1] / parts.shape[1] >= 64  # and their map
    assert off._movenet_subject(pic, parts_a, "", "pose", on_a)[3] is on_a and off.stats["movenet_pass"] == 0

    parser._keypoints = _as_keypoints(on_a.landmarks)  # MoveNet on the pass's own person
    assert parser._movenet_subject(pic, parts_a, "", "pose", on_a)[3] is on_a
    assert parser.stats["movenet_pass"] == 1
    parser.close()
    off.close()
