"""EXIF orientation: all eight values against Pillow's exif_transpose, on a real crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image, ImageOps

from occreid.orientation import exif_orientation, to_stored, to_upright


def _crop() -> np.ndarray:
    with Image.open(shared_dataset("ltcc-mini") / "query" / "028_2_c2_002001.png") as im:
        return np.asarray(im.convert("RGB"))


def _jpeg(rgb: np.ndarray, orientation: int | None, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_to_upright_matches_pillow_and_to_stored_undoes_it(orientation):
    data = _jpeg(_crop(), orientation)
    assert exif_orientation(data) == orientation
    with Image.open(io.BytesIO(data)) as im:
        stored = np.asarray(im.convert("RGB"))
        shown = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    upright = to_upright(stored, orientation)
    assert upright.shape == shown.shape and np.array_equal(upright, shown)
    assert np.array_equal(to_stored(upright, orientation), stored)
    grey = stored[:, :, 0]  # H x W (a part map) works the same way
    assert np.array_equal(to_upright(grey, orientation), shown[:, :, 0])
    assert np.array_equal(to_stored(to_upright(grey, orientation), orientation), grey)


def test_the_eight_views_of_an_asymmetric_crop_all_differ():
    crop = _crop()
    views = [to_upright(crop, o) for o in range(1, 9)]
    for i in range(8):
        for j in range(i + 1, 8):
            assert views[i].shape != views[j].shape or not np.array_equal(views[i], views[j]), (i + 1, j + 1)
    assert to_upright(crop, 6).shape == (128, 256, 3)


def test_exif_orientation_is_1_when_absent_unreadable_or_out_of_range():
    crop = _crop()
    assert exif_orientation(_jpeg(crop, None)) == 1
    assert exif_orientation(_jpeg(crop, 9)) == 1
    assert exif_orientation(_jpeg(crop, 0)) == 1
    assert exif_orientation(b"") == 1
    assert exif_orientation(b"not an image at all") == 1
    assert exif_orientation(_jpeg(crop, 6)[:200]) in (1, 6)  # truncated: whatever was readable, no error
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, "PNG")
    assert exif_orientation(buf.getvalue()) == 1


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_of_other_formats(fmt):
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    Image.fromarray(_crop()).save(buf, fmt, exif=exif.tobytes())
    assert exif_orientation(buf.getvalue()) == 8


def test_exif_orientation_agrees_with_pillow_on_real_jpegs():
    # Real crops (no EXIF) and the same crops re-saved with extra APP segments and a big-endian tag.
    for path in sorted(shared_dataset("market1501-mini").rglob("*.jpg"))[:10]:
        data = path.read_bytes()
        with Image.open(path) as im:
            assert exif_orientation(data) == im.getexif().get(0x0112, 1)
    exif = Image.Exif()
    exif[0x0112] = 5
    exif[0x010F] = "a camera maker"
    buf = io.BytesIO()
    Image.fromarray(_crop()).save(buf, "JPEG", exif=b"Exif\x00\x00" + exif.tobytes()[6:], icc_profile=b"x" * 300)
    assert exif_orientation(buf.getvalue()) == 5
    big = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x03\x00\x00\x00\x00\x00\x00"
    buf = io.BytesIO()
    Image.fromarray(_crop()).save(buf, "JPEG", exif=b"Exif\x00\x00" + big)
    assert exif_orientation(buf.getvalue()) == 3
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert im.getexif().get(0x0112) == 3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        to_upright(np.zeros((4, 4)), 9)
    with pytest.raises(ValueError):
        to_stored(np.zeros(4), 1)


def test_a_rotated_jpeg_is_parsed_as_shown_and_the_map_maps_back_onto_the_stored_pixels():
    from occreid.parser import make_parser

    crop = _crop()  # the person as a viewer should see them
    stored = to_stored(crop, 6)  # a camera held sideways stored them lying down, tag 6
    data = _jpeg(stored, 6)
    orientation = exif_orientation(data)
    with Image.open(io.BytesIO(data)) as im:
        pixels = np.asarray(im.convert("RGB"))
    assert orientation == 6 and pixels.shape == (128, 256, 3)
    parser = make_parser("mediapipe")
    try:
        ref = parser.parse(crop).parts
        sideways = parser.parse(pixels)
        upright = parser.parse(to_upright(pixels, orientation))
    finally:
        parser.close()
    assert ref is not None and upright.parts is not None
    back = to_stored(upright.parts, orientation)
    assert back.shape == pixels.shape[:2]
    # The map of the upright view, turned back, lies on the person in the stored pixels ...
    assert (back == to_stored(ref, 6)).mean() > 0.9
    # ... where parsing the stored pixels as they are finds no person, or not the same one.
    assert sideways.parts is None or (sideways.parts == to_stored(ref, 6)).mean() < 0.8
