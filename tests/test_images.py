"""Decoding what datasets really contain, and re-encoding without touching pixels off the occluder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid.images import ImageError, decode, encode


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_jpeg_keep_tables_barely_changes_pixels_off_the_occluder():
    # Measured on 308 real crops: PSNR off the occluder >= 43 dB (median 61), >= 95 % of those
    # pixels bit-identical (median 99 %); quality 95 gives a median of 53 dB and 1.8x the bytes.
    files = sorted(shared_dataset("prcc-mini").rglob("*.jpg"))[::8]
    psnrs, identical = [], []
    for f in files:
        data = f.read_bytes()
        dec = decode(data)
        h, w = dec.rgb.shape[:2]
        mask = np.zeros((h, w), bool)
        mask[h // 4 : h // 2, w // 4 : 3 * w // 4] = True
        pixels = dec.pixels.copy()
        pixels[mask] = 0
        encoded = encode(dec, pixels)
        out = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")).astype(float)
        assert np.median(out[mask]) == 0 and out[mask].mean() < 6  # black, bar chroma ringing at edges
        err = ((out[~mask] - dec.rgb[~mask]) ** 2).mean()
        psnrs.append(99.0 if err == 0 else 10 * np.log10(255**2 / err))
        identical.append((out[~mask] == dec.rgb[~mask]).all(axis=1).mean())
        assert len(encoded) < 1.3 * len(data)  # same tables: about the same size
    assert min(psnrs) > 40 and np.median(psnrs) > 50
    assert min(identical) > 0.9 and np.median(identical) > 0.97


def test_modes_are_kept_and_parsed_as_rgb():
    rng = np.random.default_rng(0)
    cases = {
        "L": Image.fromarray(rng.integers(0, 255, (64, 32), dtype=np.uint8)),
        "RGBA": Image.fromarray(rng.integers(0, 255, (64, 32, 4), dtype=np.uint8)),
        "I;16": Image.fromarray(rng.integers(0, 65535, (64, 32), dtype=np.uint16)),
        "P": Image.fromarray(rng.integers(0, 255, (64, 32), dtype=np.uint8)).convert("P"),
    }
    for mode, im in cases.items():
        dec = decode(_bytes(im, "PNG"))
        assert dec.rgb.shape == (64, 32, 3) and dec.rgb.dtype == np.uint8, mode
        back = Image.open(io.BytesIO(encode(dec, dec.pixels)))
        assert back.format == "PNG" and back.size == (32, 64)
        assert back.mode == mode
        if mode == "P":  # same colours (an index may differ where the palette repeats a colour)
            assert (np.asarray(back.convert("RGB")) == np.asarray(im.convert("RGB"))).all()
        else:
            assert (np.asarray(back) == np.asarray(im)).all()  # PNG round trip is lossless


def _occlude_top(dec):
    pixels = dec.pixels.copy()
    pixels[:16] = 0
    return Image.open(io.BytesIO(encode(dec, pixels)))


def test_palette_with_transparency_stays_a_palette_image_with_its_transparency():
    rng = np.random.default_rng(1)
    im = Image.fromarray(rng.integers(0, 200, (64, 32), dtype=np.uint8)).convert("P")
    idx = np.array(im)
    idx[40:] = 255  # transparent rows at the bottom
    im = Image.fromarray(idx, "P")
    im.putpalette(sum(([i, i, i] for i in range(255)), []) + [0, 255, 0])
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=255)
    back = _occlude_top(decode(buf.getvalue()))
    assert back.mode == "P" and back.info.get("transparency") == 255
    assert (np.array(back)[40:] == 255).all()  # still transparent
    assert (np.asarray(back.convert("RGB"))[16:40] == np.asarray(im.convert("RGB"))[16:40]).all()


def test_cmyk_jpeg_stays_cmyk_and_progressive_jpeg_stays_progressive():
    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8))
    back = _occlude_top(decode(_bytes(rgb.convert("CMYK"), "JPEG")))
    assert (back.format, back.mode) == ("JPEG", "CMYK")
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", progressive=True)
    back = _occlude_top(decode(buf.getvalue()))
    assert back.format == "JPEG" and back.info.get("progressive")


def test_lossy_webp_stays_lossy_lossless_stays_lossless():
    rng = np.random.default_rng(3)
    im = Image.fromarray(rng.integers(0, 255, (128, 64, 3), dtype=np.uint8))
    for lossless in (False, True):
        buf = io.BytesIO()
        im.save(buf, "WEBP", lossless=lossless, quality=80)
        data = buf.getvalue()
        dec = decode(data)
        assert dec.info["lossless"] is lossless
        out = encode(dec, dec.pixels)
        assert (b"VP8L" in out[12:64]) is lossless
        if not lossless:
            assert len(out) < 2 * len(data)  # not rewritten lossless at several times the size


def test_pixel_limit_refuses_from_the_header_before_decoding():
    data = _bytes(Image.new("L", (3000, 3000)), "PNG")  # 9 megapixels, a few kB compressed
    with pytest.raises(ImageError, match="too large.*9,000,000 pixels"):
        decode(data, max_pixels=1_000_000)
    assert decode(data, max_pixels=10_000_000).size == (3000, 3000)


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"),
    (b"this is a text file, not an image\n", "not an image"),
    (None, "cannot decode"),  # truncated JPEG
    ("tiny", "too small"),
])
def test_bad_inputs_get_a_reason(data, reason):
    if data is None:
        full = _bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 128, 3), dtype=np.uint8)), "JPEG")
        data = full[: len(full) // 2]
    elif data == "tiny":
        data = _bytes(Image.new("RGB", (10, 10)), "JPEG")
    with pytest.raises(ImageError, match=reason):
        decode(data)


def test_content_decides_the_format_not_the_extension():
    data = _bytes(Image.new("RGB", (32, 64), (10, 20, 30)), "PNG")
    dec = decode(data)  # a PNG, whatever its file is called
    assert dec.format == "PNG"
    assert Image.open(io.BytesIO(encode(dec, dec.pixels))).format == "PNG"


def _pillow_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


@pytest.fixture
def fast_calls(monkeypatch):
    """What became of each JPEG tried on the fast path: "decoded", or "refused" (strict mode)."""
    from occreid import images

    if images.simplejpeg is None:
        pytest.skip("simplejpeg is not installed: Pillow decodes every JPEG")
    calls = []
    real = images.simplejpeg.decode_jpeg

    class Spy:
        @staticmethod
        def decode_jpeg(data, **kw):
            try:
                out = real(data, **kw)
            except ValueError:
                calls.append("refused")
                raise
            calls.append("decoded")
            return out

    monkeypatch.setattr(images, "simplejpeg", Spy)
    return calls


def test_rgb_jpegs_decode_to_exactly_pillows_pixels(fast_calls):
    files = [f for name in ("prcc-mini", "market1501-mini") for f in sorted(shared_dataset(name).rglob("*.jpg"))]
    real = Image.open(files[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the decoder must not turn the pixels (orientation.py does, for the parser)
    variants = [_bytes(real, "JPEG", quality=90, subsampling=s) for s in (0, 1, 2)]  # 4:4:4, 4:2:2, 4:2:0
    variants += [_bytes(real, "JPEG", progressive=True), _bytes(real, "JPEG", exif=exif.tobytes())]
    datas = [f.read_bytes() for f in files] + variants
    for data in datas:
        dec = decode(data)
        assert dec.mode == "RGB" and dec.pixels.dtype == np.uint8
        assert np.array_equal(dec.pixels, _pillow_pixels(data)) and np.array_equal(dec.rgb, dec.pixels)
    assert fast_calls == ["decoded"] * len(datas)  # every one went through libjpeg-turbo directly


def test_jpegs_the_fast_path_does_not_take_keep_pillows_result(fast_calls, capfd):
    crop = Image.open(sorted(shared_dataset("prcc-mini").rglob("*.jpg"))[0])
    whole = _bytes(crop, "JPEG", quality=90)
    start = whole.index(b"\xff\xda") + 40  # inside the scan data
    damaged = whole[:start] + bytes(b ^ 0x5A for b in whole[start:start + 60]) + whole[start + 60:]
    gray = _bytes(crop.convert("L"), "JPEG")
    for data in (damaged, gray):
        dec = decode(data)  # Pillow decodes what libjpeg-turbo had to recover from: the same pixels as before
        assert np.array_equal(dec.pixels, _pillow_pixels(data))
    assert decode(gray).mode == "L"
    assert fast_calls == ["refused"]  # the damaged file was tried and refused; the gray one never tried
    with pytest.raises(ImageError, match="cannot decode"):
        decode(whole[: len(whole) // 2])  # cut short: no end marker, Pillow's reason
    assert capfd.readouterr().err == ""  # libjpeg-turbo's warnings are not printed
