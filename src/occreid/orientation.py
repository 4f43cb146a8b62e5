"""EXIF orientation: the stored pixels of a photo and the picture a viewer shows differ.

A camera or phone often stores a JPEG as the sensor read it and writes an EXIF ``Orientation`` tag
(1..8) saying how to turn it for display. A person who stands upright on screen may lie on their
side in the stored pixels, where no pose model finds them. occreid therefore parses the upright
view (``to_upright``), maps the part map back to the stored pixels (``to_stored``, its exact
inverse), occludes the stored pixels and writes them with the file's own tag, so the written file
still shows upright and the occluder lands on the person.

The eight values (EXIF 2.3, tag 0x0112), as the transform from stored pixels to the view:

| value | stored -> upright |
| --- | --- |
| 1 | as stored |
| 2 | mirror left-right |
| 3 | rotate 180 degrees |
| 4 | mirror top-bottom |
| 5 | transpose (mirror along the main diagonal) |
| 6 | rotate 90 degrees clockwise |
| 7 | transverse (mirror along the other diagonal) |
| 8 | rotate 90 degrees counter-clockwise |

These match Pillow's ``ImageOps.exif_transpose`` (the tests check all eight against it).
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np

#: A TIFF header's byte-order mark.
_BYTE_ORDERS: dict[bytes, Literal["little", "big"]] = {b"II": "little", b"MM": "big"}
#: The EXIF tag number of Orientation.
ORIENTATION_TAG = 0x0112


def _tiff_orientation(tiff: bytes) -> int:
    """The Orientation entry of IFD0 in a TIFF-structured EXIF block; 1 when absent."""
    order = _BYTE_ORDERS.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd : ifd + 2], order)
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        if len(entry) < 12:
            break
        if int.from_bytes(entry[0:2], order) == ORIENTATION_TAG:
            if int.from_bytes(entry[2:4], order) != 3:  # not a SHORT: not a valid Orientation
                return 1
            return int.from_bytes(entry[8:10], order)
    return 1


def _jpeg_orientation(data: bytes) -> int:
    """The orientation in a JPEG's APP1 Exif segment, found by walking the markers before the
    image data (no decoding); 1 when there is none."""
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more metadata
            break
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[i + 10 : i + 2 + length])
        i += 2 + length
    return 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of an encoded image; 1 when it has none, the value is out of
    range, or the bytes cannot be read. Never raises (an unreadable file is reported elsewhere).

    JPEGs are read by walking their markers (a few microseconds: most re-ID crops have no EXIF);
    other formats (PNG's eXIf chunk, WebP, TIFF) through Pillow."""
    try:
        if data[:2] == b"\xff\xd8":
            value = _jpeg_orientation(data)
        else:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _check(arr: np.ndarray, orientation: int) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected an H x W or H x W x C array, got shape {a.shape}")
    if orientation not in range(1, 9):
        raise ValueError(f"EXIF orientation must be 1..8, got {orientation!r}")
    return a


def to_upright(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels ``arr`` (H x W or H x W x C) as a viewer shows them, for an EXIF
    ``orientation`` of 1..8 (see the module's table). Returns a contiguous array (a copy unless
    the orientation is 1)."""
    a = _check(arr, orientation)
    if orientation == 1:
        return a
    if orientation == 2:
        out = a[:, ::-1]
    elif orientation == 3:
        out = a[::-1, ::-1]
    elif orientation == 4:
        out = a[::-1]
    elif orientation == 5:
        out = a.swapaxes(0, 1)
    elif orientation == 6:
        out = np.rot90(a, -1)
    elif orientation == 7:
        out = a[::-1, ::-1].swapaxes(0, 1)
    else:  # 8
        out = np.rot90(a, 1)
    return np.ascontiguousarray(out)


#: The orientation whose transform undoes each one: all are their own inverse but the two rotations.
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def to_stored(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The exact inverse of ``to_upright``: an array laid out as the viewer sees it (a part map of
    the upright view) back in the stored pixels' layout."""
    _check(arr, orientation)
    return to_upright(arr, _INVERSE[orientation])
