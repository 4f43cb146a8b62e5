"""16-bit RGB and RGBA PNGs stay 16-bit (issue 18, item 6): real crops converted to 16 bits at test
time go through a whole run; the output has the input's bit depth and colour type, and every pixel
off the occluder is exactly the input's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid.runner import GenerateConfig, generate

cv2 = pytest.importorskip("cv2")
BOX = "parsers:BoxParser"


def _deep(rgb: np.ndarray, alpha: bool, seed: int) -> np.ndarray:
    """16-bit RGB(A) from an 8-bit crop: the high byte the crop's, the low byte noise (so a
    conversion to 8 bits and back could not give the same values)."""
    low = np.random.default_rng(seed).integers(0, 256, rgb.shape, dtype=np.uint16)
    deep = rgb.astype(np.uint16) * 256 + low
    if alpha:
        a = np.full(rgb.shape[:2] + (1,), 60000, np.uint16)
        deep = np.concatenate([deep, a], axis=2)
    return deep


def _read16(path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return pixels[..., [2, 1, 0, 3][:pixels.shape[2]]]


@pytest.mark.parametrize("alpha", [False, True])
def test_16_bit_rgb_and_rgba_pngs_are_written_16_bit_with_untouched_pixels_kept(tmp_path, alpha):
    crops = sorted((shared_dataset("ltcc-mini") / "train").glob("*.png"))[:4]
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    sources = {}
    for i, path in enumerate(crops):
        deep = _deep(np.asarray(Image.open(path).convert("RGB")), alpha, i)
        assert cv2.imwrite(str(data / path.name), np.ascontiguousarray(deep[..., [2, 1, 0, 3][:deep.shape[2]]]))
        sources[path.name] = deep
    result = generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, save_masks=True))
    rows = {r.relpath: r for r in result.rows}
    for name, deep in sources.items():
        assert rows[name].status == "occluded", rows[name].reason
        head = (out / name).read_bytes()[:26]
        assert (head[24], head[25]) == (16, 6 if alpha else 2)  # bit depth, colour type: the input's
        written = _read16(out / name)
        assert written.dtype == np.uint16 and written.shape == deep.shape
        mask = np.asarray(Image.open(out / "_occreid" / "masks" / f"{name}.png")) > 0
        assert mask.any() and (~mask).any()
        assert (written[~mask] == deep[~mask]).all()  # off the occluder: every 16-bit value kept
        assert (written[mask][..., :3] == 0).all()  # the default fill: black
        if alpha:
            assert (written[mask][..., 3] == 65535).all()  # opaque under the occluder


def test_16_bit_png_round_trip_keeps_values_and_resolution(tmp_path):
    from occreid.images import decode, encode

    deep = _deep(np.full((40, 20, 3), 100, np.uint8), False, 0)
    ok, buf = cv2.imencode(".png", deep)
    decoded = decode(buf.tobytes())
    assert decoded.mode == "RGB;16" and decoded.rgb.dtype == np.uint8 and (decoded.pixels == deep[..., ::-1]).all()
    decoded.info["dpi"] = (300, 300)
    again = decode(encode(decoded, decoded.pixels))
    assert (again.pixels == decoded.pixels).all() and again.mode == "RGB;16"
    assert tuple(round(x) for x in again.info["dpi"]) == (300, 300)
