"""Image I/O: decode any input the way a re-ID loader would see it, re-encode it in its own format.

Pillow is used because it keeps what a dataset's files are: their format (sniffed from content,
not the extension), mode (L, RGB, RGBA, 16-bit), ICC profile and, for JPEG, the source's own
quantisation tables and chroma subsampling. Re-encoding with those tables leaves the pixels off the
occluder almost unchanged (on real crops: median PSNR 61 dB, 99 % of them bit-identical; see
tests/test_images.py), at the source's file size.

The pixels of an RGB JPEG, nearly every re-ID crop, are decoded by simplejpeg (libjpeg-turbo's
TurboJPEG API straight into a NumPy array) with the decoder settings Pillow uses (accurate integer
DCT, smooth chroma upsampling), so the pixels are the same, at under half the cost of Pillow's
decode and its copy into NumPy. Pillow still reads the header (mode, tables, metadata), and decodes
everything else: other modes, files not ending in their end-of-image marker, and any file on which
libjpeg-turbo reports even a recoverable error (simplejpeg's strict mode), so damaged files keep
Pillow's behaviour and reasons.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin

from .errors import OccreidError

try:
    import simplejpeg
except ImportError:  # a platform without its wheel: Pillow decodes everything, the same pixels
    simplejpeg = None

Image.MAX_IMAGE_PIXELS = None  # the size guard is ``decode``'s ``max_pixels``, checked before decoding

#: Smallest side a parser is given; smaller crops are recorded as errors.
MIN_SIDE = 16
#: Default guards against decompression bombs and huge files: a 50-megapixel image is 150 MB as
#: RGB, far beyond any re-ID crop; a file over 64 MiB is refused before it is read.
MAX_PIXELS = 50_000_000
MAX_FILE_BYTES = 64 * 1024 * 1024


class ImageError(OccreidError, ValueError):
    """The file cannot be used as an image; the message is the manifest's reason."""


@dataclass
class Decoded:
    """A decoded image: ``pixels`` in its own mode (what gets occluded and written) and ``rgb``
    (H x W x 3 uint8, what the parser sees), with what is needed to encode it back."""

    pixels: np.ndarray
    rgb: np.ndarray
    mode: str
    format: str
    info: dict
    source_mode: str = ""  # the file's own mode when ``mode`` differs (P, CMYK): encode converts back
    palette: Image.Image | None = None  # P images: the palette to map back to

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


# Modes occluded in place; any other (P, 1, CMYK, YCbCr, F...) is occluded as RGB or RGBA.
_NATIVE = {"L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I"}


def _to_rgb(im: Image.Image, pixels: np.ndarray) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        factor = 255.0 / max(1, int(pixels.max())) if im.mode == "I" else 1 / 257
        scaled = (pixels.astype(np.float64) * factor).round()
        gray = np.clip(scaled, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "RGB" and pixels.dtype == np.uint8 and pixels.ndim == 3:
        view = pixels.view()  # the same values as converting again, without a second copy; read-only as before
        view.flags.writeable = False
        return view
    return np.asarray(im.convert("RGB"))


def _webp_lossless(data: bytes) -> bool:
    """True when a WebP file's image is stored lossless (a VP8L chunk), False for lossy (VP8)."""
    return b"VP8L" in data[12:4096] and b"VP8 " not in data[12:4096]


def _rgb_jpeg(data: bytes, im: Image.Image) -> np.ndarray | None:
    """The pixels of a complete RGB JPEG decoded by libjpeg-turbo into an array (H x W x 3 uint8),
    or None where Pillow decodes it (see the module's docstring)."""
    if simplejpeg is None or im.format != "JPEG" or im.mode != "RGB" or not data.endswith(b"\xff\xd9"):
        return None
    try:
        rgb = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False, strict=True)
    except ValueError:  # anything libjpeg-turbo had to recover from: Pillow's decode and its reasons
        return None
    return rgb if rgb.shape == (im.size[1], im.size[0], 3) else None


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode image bytes; ImageError with a short reason if they are not a usable image.

    The size in the header is checked against ``max_pixels`` before any pixel is decoded, so a
    decompression bomb costs nothing.
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(f"image too large: {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
                             "(--max-pixels)")
        fast = _rgb_jpeg(data, im)
        if fast is None:
            im.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}") from None
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:
        text = str(exc) or type(exc).__name__
        if "cannot identify image file" in text:
            text = "not an image file (unrecognised content)"
        raise ImageError(f"cannot decode: {text}") from None
    fmt = im.format or "PNG"
    frames = getattr(im, "n_frames", 1)  # only multi-frame formats (GIF, TIFF, WebP...) have it
    if frames > 1:
        raise ImageError(f"animated or multi-frame {fmt} image ({frames} frames)")
    w, h = im.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"image too small to parse ({w}x{h}; each side must be at least {MIN_SIDE} px)")
    info: dict[str, Any] = {k: im.info[k] for k in ("icc_profile", "exif", "dpi") if k in im.info}
    if fmt == "JPEG" and isinstance(im, JpegImagePlugin.JpegImageFile):  # (an MPO file is one too)
        info["qtables"] = im.quantization
        info["subsampling"] = JpegImagePlugin.get_sampling(im)
        info["progressive"] = bool(im.info.get("progressive") or im.info.get("progression"))
    if fmt == "WEBP":
        info["lossless"] = _webp_lossless(data)
    source_mode, palette = "", None
    native: Image.Image
    if im.mode in _NATIVE:
        native = im
    else:
        has_alpha = im.mode in ("PA", "RGBa", "La") or "transparency" in im.info
        if im.mode == "P" and im.palette is not None and im.palette.mode == "RGB" and fmt in ("PNG", "GIF", "BMP"):
            source_mode, palette = "P", im.copy()
            if "transparency" in im.info:
                info["transparency"] = im.info["transparency"]
        elif im.mode == "CMYK" and fmt in ("JPEG", "TIFF"):
            source_mode = "CMYK"
        native = im.convert("RGBA" if has_alpha else "RGB")
    pixels = fast if fast is not None else np.array(native)
    deep = _deep_png(data, im) if fmt == "PNG" else None
    if deep is not None:  # 16-bit RGB(A): Pillow's 8 bits go to the parser, the 16 are occluded and written
        return Decoded(pixels=deep, rgb=_to_rgb(native, pixels)[..., :3], mode=f"{native.mode};16", format=fmt,
                       info=info)
    return Decoded(pixels=pixels, rgb=_to_rgb(native, pixels), mode=native.mode, format=fmt, info=info,
                   source_mode=source_mode, palette=palette)


#: PNG colour types of the 16-bit images Pillow reads as 8 bits: RGB (2) and RGBA (6).
_DEEP_COLOUR_TYPES = {2: 3, 6: 4}


def _deep_png(data: bytes, im: Image.Image) -> np.ndarray | None:
    """The pixels of a 16-bit RGB or RGBA PNG as H x W x 3 or 4 uint16, decoded by OpenCV (a
    mediapipe dependency; Pillow has no 16-bit RGB mode and reads such a file as 8 bits), in RGB(A)
    order; None for any other PNG, or when OpenCV cannot read it the same size (then 8 bits)."""
    if len(data) < 26 or data[12:16] != b"IHDR" or data[24] != 16 or data[25] not in _DEEP_COLOUR_TYPES:
        return None
    try:
        import cv2
    except ImportError:
        return None
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    channels = _DEEP_COLOUR_TYPES[data[25]]
    if pixels is None or pixels.dtype != np.uint16 or pixels.shape != (im.size[1], im.size[0], channels):
        return None
    return np.ascontiguousarray(pixels[..., [2, 1, 0, 3][:channels]])  # BGR(A) -> RGB(A)


def _encode_deep_png(decoded: Decoded, pixels: np.ndarray) -> bytes:
    """A 16-bit RGB(A) PNG of ``pixels`` (OpenCV's encoder), with the source's ICC profile, EXIF and
    resolution: those chunks are written by Pillow on a 1 x 1 image and copied after the header."""
    import cv2

    channels = pixels.shape[2]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(pixels[..., [2, 1, 0, 3][:channels]]))
    if not ok:
        raise ValueError("OpenCV cannot encode a 16-bit PNG")
    body = buf.tobytes()
    kwargs = {k: decoded.info[k] for k in ("icc_profile", "exif", "dpi") if k in decoded.info}
    if not kwargs:
        return body
    one = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one, format="PNG", **kwargs)
    extra, pos, small = b"", 8, one.getvalue()
    while pos < len(small):  # every chunk of the 1 x 1 PNG but its header, pixels and end
        length = int.from_bytes(small[pos:pos + 4], "big")
        if small[pos + 4:pos + 8] not in (b"IHDR", b"IDAT", b"IEND"):
            extra += small[pos:pos + 12 + length]
        pos += 12 + length
    header_end = 8 + 12 + int.from_bytes(body[8:12], "big")
    return body[:header_end] + extra + body[header_end:]


def _to_palette(decoded: Decoded, im: Image.Image) -> Image.Image:
    """Map RGB(A) pixels back onto the source's own palette: a colour the palette holds gets its
    first index (so pixels off the occluder keep their colours exactly), another (the fill) the
    nearest entry; a pixel whose alpha is 0 gets the transparent index."""
    assert decoded.palette is not None, "only a decoded palette image is mapped back to its palette"
    source_palette = decoded.palette.getpalette() or [0, 0, 0]
    pal = np.array(source_palette, np.int64).reshape(-1, 3)
    rgba = np.asarray(im.convert("RGBA") if im.mode == "RGBA" else im.convert("RGB"))
    keys = (rgba[..., 0].astype(np.int64) << 16) | (rgba[..., 1].astype(np.int64) << 8) | rgba[..., 2]
    pal_keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
    first: dict[int, int] = {}
    for i, k in enumerate(pal_keys.tolist()):
        first.setdefault(k, i)
    uniq, inverse = np.unique(keys, return_inverse=True)
    lut = np.empty(len(uniq), np.uint8)
    for j, k in enumerate(uniq.tolist()):
        if k in first:
            lut[j] = first[k]
        else:
            colour = np.array([(k >> 16) & 255, (k >> 8) & 255, k & 255])
            lut[j] = int(np.argmin(((pal - colour) ** 2).sum(axis=1)))
    idx = lut[inverse.reshape(keys.shape)]
    t = decoded.info.get("transparency")
    if rgba.shape[-1] == 4 and isinstance(t, int):
        idx[rgba[..., 3] == 0] = t
    out = Image.fromarray(idx, "P")
    out.putpalette(source_palette)
    return out


def encode(decoded: Decoded, pixels: np.ndarray, jpeg_quality: int | None = None) -> bytes:
    """Encode ``pixels`` in ``decoded``'s format and mode.

    JPEG keeps the source's quantisation tables and subsampling unless ``jpeg_quality`` is given.
    """
    if decoded.mode in ("RGB;16", "RGBA;16"):
        return _encode_deep_png(decoded, pixels)
    im = Image.fromarray(pixels)
    if im.mode != decoded.mode:
        im = im.convert(decoded.mode)
    if decoded.source_mode == "P":
        im = _to_palette(decoded, im)
    elif decoded.source_mode == "CMYK":
        im = im.convert("CMYK")
    fmt = decoded.format
    kwargs: dict = {k: decoded.info[k] for k in ("icc_profile", "exif", "dpi") if k in decoded.info}
    if decoded.source_mode == "P" and "transparency" in decoded.info:
        kwargs["transparency"] = decoded.info["transparency"]
    if fmt == "JPEG":
        if jpeg_quality is None:
            kwargs.update(qtables=decoded.info["qtables"], subsampling=decoded.info["subsampling"])
        else:
            kwargs.update(quality=jpeg_quality, subsampling=decoded.info["subsampling"])
        if decoded.info.get("progressive"):
            kwargs["progressive"] = True
    elif fmt == "WEBP":
        lossless = decoded.info.get("lossless", True)
        kwargs.update(lossless=True) if lossless else kwargs.update(quality=jpeg_quality or 90)
    elif fmt not in Image.SAVE:
        fmt = "PNG"
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()
