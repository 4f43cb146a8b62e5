"""SCHP backend: strict checkpoint loading, clear refusals, SCHP's geometry, parses of real crops.

No real weights are available here: a random-weight checkpoint is built from the published key and
shape list (``shared/docs/schp_pascal_expected_keys.txt``), in the released file's dict form
(``{'state_dict': {'module.<key>': tensor}}``), so a strict load proves the layout, not the numbers.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, shared_dataset

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from occreid.parser import make_parser  # noqa: E402
from occreid.parser.base import ParseResult  # noqa: E402
from occreid.parser.schp import SCHPParser  # noqa: E402
from occreid.parser.schp_net import (  # noqa: E402
    AugmentCE2P,
    CheckpointError,
    InferenceABN,
    fold_abn,
    load_checkpoint,
)
from occreid.parser.schp_transforms import (  # noqa: E402
    inverse_warp_matrix,
    labels_from_logits,
    normalise_bgr,
    preprocess_rgb,
    warp_matrix,
    warp_to_input,
)

KEYS_FILE = SHARED / "docs" / "schp_pascal_expected_keys.txt"
MARS = SHARED / "data" / "mars-mini"
N_TENSORS = 603


def _read_keys(path: Path) -> list[tuple[str, list[int]]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            rows.append((key, [int(v) for v in shape.strip("[] ").split(",")]))
    return rows


def _random_tensor(key: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """Random values with sane statistics (so activations stay finite through 101 layers)."""
    if key.endswith("running_var"):
        return torch.rand(shape, generator=gen) * 0.5 + 0.75  # positive
    if key.endswith("running_mean"):
        return torch.randn(shape, generator=gen) * 0.1
    if len(shape) == 4:  # convolution weight: He initialisation
        return torch.randn(shape, generator=gen) * math.sqrt(2.0 / math.prod(shape[1:]))
    if key.endswith("weight"):  # ABN scale
        return torch.rand(shape, generator=gen) * 0.5 + 0.5
    return torch.randn(shape, generator=gen) * 0.1  # ABN shift, convolution bias


@pytest.fixture(scope="session")
def state_dict() -> dict[str, torch.Tensor]:
    """The random weights, keyed as in the released checkpoint (with ``module.``), from the key file."""
    if not KEYS_FILE.is_file():
        pytest.skip(f"shared SCHP key list not found at {KEYS_FILE}")
    gen = torch.Generator().manual_seed(0)
    return {key: _random_tensor(key, shape, gen) for key, shape in _read_keys(KEYS_FILE)}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, state_dict) -> Path:
    path = tmp_path_factory.mktemp("schp") / "random-schp-pascal-person-part.pth"
    torch.save({"epoch": 150, "state_dict": state_dict}, path)
    return path


@pytest.fixture(scope="session")
def crops() -> list[np.ndarray]:
    from PIL import Image

    files = sorted(MARS.glob("bbox_train/*/*.jpg"))
    if not files:
        pytest.skip(f"real crops not found under {MARS}")
    picks = [files[0], files[len(files) // 2], files[-1]]
    return [np.asarray(Image.open(f).convert("RGB")) for f in picks]


@pytest.fixture(scope="module")
def small_parser(checkpoint):
    # 128 keeps the file fast; the model's own 512 is tested once below.
    parser = make_parser("schp", checkpoint=str(checkpoint), device="cpu", batch_size=3, input_size=128)
    yield parser
    parser.close()


# --------------------------------------------------------------------------- loading


def test_strict_load_of_the_released_layout(checkpoint, state_dict):
    assert len(state_dict) == N_TENSORS
    assert all(k.startswith("module.") for k in state_dict)
    model = load_checkpoint(checkpoint)
    loaded = model.state_dict()
    assert len(loaded) == N_TENSORS
    for key, value in state_dict.items():
        assert torch.equal(loaded[key[len("module."):]], value), key
    assert not any("num_batches_tracked" in k for k in loaded)
    assert "fushion.0.weight" in loaded


def _refused(tmp_path, name, state, match) -> str:
    path = tmp_path / name
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    for word in match:
        assert word in message, message
    return message


def test_missing_key_is_named(tmp_path, state_dict):
    state = dict(state_dict)
    del state["module.layer3.7.bn2.running_var"]
    _refused(tmp_path, "missing.pth", state, ["1 missing key", "layer3.7.bn2.running_var"])


def test_unexpected_key_is_named(tmp_path, state_dict):
    state = dict(state_dict)
    state["module.layer1.0.bn1.num_batches_tracked"] = torch.tensor(0)
    _refused(tmp_path, "extra.pth", state, ["1 unexpected key", "layer1.0.bn1.num_batches_tracked"])


def test_wrong_shape_is_named_and_other_models_recognised(tmp_path, state_dict):
    state = dict(state_dict)
    state["module.fushion.3.weight"] = torch.zeros(20, 256, 1, 1)  # LIP has 20 classes
    state["module.fushion.3.bias"] = torch.zeros(20)
    message = _refused(tmp_path, "lip.pth", state, ["wrong shape", "fushion.3.weight", "[20, 256, 1, 1]"])
    assert "LIP" in message


def test_truncated_file_is_refused(tmp_path, checkpoint):
    path = tmp_path / "truncated.pth"
    with open(checkpoint, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(checkpoint.stat().st_size // 3))
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "page.pth"
    path.write_text("<html><body>Google Drive - quota exceeded</body></html>\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_non_dict_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError, match="not a checkpoint dict") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")


def test_checkpoint_errors_are_one_line_value_errors(tmp_path, state_dict):
    """The CLI turns a ValueError into one sentence: a misfit must arrive as one, on one line."""
    state = dict(state_dict)
    del state["module.fushion.3.bias"]
    path = tmp_path / "short.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert isinstance(info.value, CheckpointError)
    assert "\n" not in str(info.value) and "1 missing key(s): fushion.3.bias;" in str(info.value)


# --------------------------------------------------------------------------- network pieces


def test_inference_abn_is_inplace_abn_at_inference():
    abn = InferenceABN(4, activation="leaky_relu")
    with torch.no_grad():
        abn.weight.copy_(torch.tensor([-2.0, 0.0, 0.5, 1.0]))
        abn.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        abn.running_mean.copy_(torch.tensor([1.0, 0.0, -1.0, 2.0]))
        abn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 9.0]))
    x = torch.randn(2, 4, 3, 3)
    gamma = abn.weight.abs() + 1e-5  # |weight| + eps, not weight
    ref = (x - abn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(abn.running_var.view(1, -1, 1, 1) + 1e-5)
    ref = ref * gamma.view(1, -1, 1, 1) + abn.bias.view(1, -1, 1, 1)
    ref = torch.where(ref > 0, ref, 0.01 * ref)
    with torch.inference_mode():
        assert torch.allclose(abn(x.clone()), ref, atol=1e-6)
    assert set(abn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


def test_folding_keeps_the_outputs(state_dict):
    model = AugmentCE2P()
    model.load_state_dict({k[len("module."):]: v for k, v in state_dict.items()})
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        ref = model(x)
        (parsing, fusion), (edge,) = model.forward_all(x)
        assert parsing.shape == fusion.shape == (1, 7, 16, 24) and edge.shape == (1, 2, 16, 24)
        assert torch.allclose(fusion, ref, atol=1e-5)
        assert fold_abn(model) == 119  # every ABN (one per running_var key)
        folded = model(x)
    assert torch.allclose(folded, ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))


# --------------------------------------------------------------------------- geometry


def _schp_reference_matrix(w, h, n, inverse=False):
    """SCHP's three-point construction (centre, a point half a scale above it, a third at 90 deg)."""
    c = np.array([(w - 1) * 0.5, (h - 1) * 0.5], np.float32)
    s = max(w - 1, h - 1)
    d = np.array([(n - 1) * 0.5, (n - 1) * 0.5], np.float32)
    src = np.stack([c, c + [0, -s * 0.5], c + [-s * 0.5, 0]]).astype(np.float32)
    dst = np.stack([d, d + [0, -(n - 1) * 0.5], d + [-(n - 1) * 0.5, 0]]).astype(np.float32)
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("w,h", [(128, 256), (64, 128), (300, 100), (37, 211)])
def test_warp_matrices_match_schp(w, h):
    for n in (512, 473):
        assert np.allclose(warp_matrix(w, h, n), _schp_reference_matrix(w, h, n), atol=1e-6)
        assert np.allclose(inverse_warp_matrix(w, h, n), _schp_reference_matrix(w, h, n, True), atol=1e-6)
    m = warp_matrix(w, h, 512)
    centre = m @ [(w - 1) / 2, (h - 1) / 2, 1]
    assert np.allclose(centre, [255.5, 255.5])
    far = m @ [w - 1, h - 1, 1]  # the long side spans the whole input, the short one is centred
    assert np.isclose(max(far), 511.0)
    inv = np.vstack([inverse_warp_matrix(w, h, 512), [0, 0, 1]])
    assert np.allclose(inv @ np.vstack([m, [0, 0, 1]]), np.eye(3))


def _synthetic_labels(w, h, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((h, w), np.uint8)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        labels[y0:y0 + rng.integers(h // 8 + 1, h // 2 + 2), x0:x0 + rng.integers(w // 8 + 1, w // 2 + 2)] = (
            rng.integers(0, 7)
        )
    cv2.circle(labels, (w // 2, h // 3), max(2, min(w, h) // 6), 1, -1)
    return labels


@pytest.mark.parametrize("w,h", [(128, 256), (64, 128), (300, 100), (211, 37), (50, 50), (37, 211),
                                 (640, 480), (1, 1), (2, 3)])
def test_warp_and_inverse_warp_round_trip_labels(w, h):
    labels = _synthetic_labels(w, h)
    onehot = np.eye(7, dtype=np.float32)[labels]  # labels as logits
    net_space = warp_to_input(onehot, 512)
    assert net_space.shape == (512, 512, 7)
    back = labels_from_logits(net_space, w, h)
    assert back.shape == (h, w) and back.dtype == np.uint8
    kernel = np.ones((3, 3), np.uint8)
    boundary = cv2.dilate(labels, kernel) != cv2.erode(labels, kernel)
    assert not np.any((back != labels) & ~boundary)  # only pixels on a label boundary may move
    assert (back == labels).mean() >= 0.9999  # measured: 1.0, and 0.99999 for 640x480


def test_preprocessing_is_bgr_and_normalised():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    warped = preprocess_rgb(rgb, 64)
    assert np.array_equal(warped, warp_to_input(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), 64))
    x = normalise_bgr(warped)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    b = warped[..., 0].astype(np.float32) / 255
    assert np.allclose(x[0], (b - 0.406) / 0.225, atol=1e-5)
    assert np.allclose(x[2], (warped[..., 2] / 255 - 0.485) / 0.229, atol=1e-5)
    assert warped[0, 0].sum() == 0  # black border on the short side


# --------------------------------------------------------------------------- the parser


def _check_maps(results, images):
    assert len(results) == len(images)
    for res, im in zip(results, images):
        assert isinstance(res, ParseResult)
        assert res.parts is not None, res.reason
        assert res.parts.shape == im.shape[:2] and res.parts.dtype == np.uint8
        assert res.parts.max() <= 6


def test_parse_real_crops(small_parser, crops):
    results = [small_parser.parse(im) for im in crops]
    _check_maps(results, crops)
    assert small_parser.name == "schp" and small_parser.threads >= 1


def test_parse_batch_matches_one_at_a_time(small_parser, crops):
    images = crops + [crops[0][:100, :70], crops[1][::2]]  # different sizes in one batch
    single = [small_parser.parse(im) for im in images]
    batched = small_parser.parse_batch(images)
    _check_maps(batched, images)
    for a, b in zip(single, batched):
        # Batched convolutions sum in another order; with random weights an argmax tie may flip.
        assert (a.parts == b.parts).mean() >= 0.999
    streamed = list(small_parser.iter_parse(iter(images), batch_size=2))
    assert [r.parts.shape for r in streamed] == [im.shape[:2] for im in images]


def test_parser_matches_the_reference_procedure(small_parser, checkpoint, crops):
    """Folded, channels-last, batched path == SCHP's plain procedure, one image at a time."""
    model = load_checkpoint(checkpoint)
    n = small_parser.input_size
    for im in crops[:2]:
        x = torch.from_numpy(normalise_bgr(warp_to_input(im[:, :, ::-1].copy(), n)))[None]
        with torch.no_grad():
            logits = model(x)
            up = torch.nn.functional.interpolate(logits, size=(n, n), mode="bilinear", align_corners=True)
        ref = labels_from_logits(up[0].permute(1, 2, 0).numpy(), im.shape[1], im.shape[0])
        got = small_parser.parse(im).parts
        assert (got == ref).mean() >= 0.999


def test_no_person_and_empty_images(small_parser):
    black = np.zeros((64, 32, 3), np.uint8)
    empty = np.zeros((0, 10, 3), np.uint8)
    results = small_parser.parse_batch([black, empty])
    assert results[1] == ParseResult(None, "empty image")
    res = results[0]  # random weights may or may not see a person in black; the contract holds
    assert (res.parts is None and res.reason == "no person pixels") or res.parts.any()
    with pytest.raises(TypeError):
        small_parser.parse(np.zeros((8, 8, 3), np.float32))


def test_parse_at_the_model_input_size(checkpoint, crops):
    parser = SCHPParser(checkpoint, device="cpu", batch_size=2)
    assert parser.input_size == 512 and not parser.half
    try:
        _check_maps([parser.parse(crops[0])], crops[:1])
    finally:
        parser.close()


def test_cuda_requested_without_cuda(checkpoint):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(RuntimeError, match="CUDA"):
        SCHPParser(checkpoint, device="cuda")


def test_import_without_torch_is_clean():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import occreid.parser as p\n"
        "assert 'occreid.parser.schp' not in sys.modules\n"
        "try:\n"
        "    p.make_parser('schp', checkpoint='x.pth')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'occreid[schp]'" in out.stdout


def test_generate_with_the_schp_parser_through_the_cli(tmp_path, checkpoint):
    """The paper's parser end to end: --parser schp --checkpoint, batched, sizes and labels kept."""
    from click.testing import CliRunner
    from PIL import Image

    from occreid.cli import main

    src = tmp_path / "crops" / "query"
    src.mkdir(parents=True)
    market = shared_dataset("market1501-mini") / "query"
    for f in sorted(market.glob("*.jpg"))[:3]:
        (src / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["generate", str(tmp_path / "crops"), "--layout", "folder", "--out", str(out),
                                    "--parser", "schp", "--checkpoint", str(checkpoint), "--batch-size", "2",
                                    "--device", "cpu", "-j", "1", "--no-progress", "--save-parts"])
    assert res.exit_code == 0, res.output
    rows = (out / "_occreid" / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and all(",schp," in r for r in rows)
    for f in src.glob("*.jpg"):
        rel = f"query/{f.name}"
        assert Image.open(out / rel).size == Image.open(f).size
        parts = np.array(Image.open(out / "_occreid" / "parts" / f"{rel}.png"))
        assert parts.shape == np.asarray(Image.open(f)).shape[:2] and parts.max() <= 6
