"""The report's images: thumbnails of originals and occluded images, part maps and occluder masks
blended on them, each written once as a JPEG into the assets folder and named by a hash of its key
(so the same image in two places of the page is one file)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..images import MAX_FILE_BYTES, MAX_PIXELS
from ..inputs import open_side_image
from ..parts import PALETTE
from ..writer import OutputTree
from .data import Run

#: Largest thumbnail (width, height); re-ID crops are about 1:2.
THUMB = (64, 128)
#: Opacity of the part colours blended on the original.
OVERLAY_ALPHA = 0.55
#: Colour of an occluder mask blended on the original.
MASK_COLOUR = (230, 30, 30)


def open_rgb(path: Path) -> Image.Image | None:
    """A small RGB version of an image file (decoded at reduced scale when JPEG allows), or None
    (also for a FIFO, device or oversized file: ``inputs.open_side_image`` never blocks)."""
    try:
        with open_side_image(path, MAX_PIXELS, MAX_FILE_BYTES) as im:
            im.draft("RGB", (THUMB[0] * 2, THUMB[1] * 2))
            rgb = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError, MemoryError):
        return None
    rgb.thumbnail(THUMB, Image.Resampling.BILINEAR)
    return rgb


def open_index(path: Path, size: tuple[int, int], mode: str) -> np.ndarray | None:
    """A part map (``mode="parts"``: palette indices, nearest-neighbour resized) or an occluder mask
    (``mode="mask"``: box-pooled, so thin occluders stay visible) at ``size``; None when unreadable."""
    try:
        with open_side_image(path, MAX_PIXELS, MAX_FILE_BYTES) as im:
            im = im if im.mode in ("P", "L", "1") else im.convert("L")
            arr = np.array(im.convert("L") if mode == "mask" else im.resize(size, Image.Resampling.NEAREST))
    except (OSError, ValueError, SyntaxError, MemoryError):
        return None
    if mode == "mask":
        m = Image.fromarray((arr > 0).astype(np.uint8) * 255).resize(size, Image.Resampling.BOX)
        return np.array(m) > 40
    return arr


def overlay_parts(base: Image.Image, parts: np.ndarray) -> Image.Image:
    """The part map's colours blended on ``base``, the background dimmed."""
    rgb = np.asarray(base, np.float32)
    colours = np.asarray(PALETTE, np.float32)[np.clip(parts, 0, len(PALETTE) - 1)]
    on = (parts > 0)[..., None]
    out = np.where(on, (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours, rgb * 0.75)
    return Image.fromarray(out.round().astype(np.uint8))


def overlay_mask(base: Image.Image, mask: np.ndarray) -> Image.Image:
    """The occluder mask in red blended on ``base``."""
    rgb = np.asarray(base, np.float32)
    out = np.where(mask[..., None], 0.4 * rgb + 0.6 * np.asarray(MASK_COLOUR, np.float32), rgb)
    return Image.fromarray(out.round().astype(np.uint8))


def derived_mask(orig: Image.Image, occ: Image.Image) -> np.ndarray | None:
    """Where the occluded image differs clearly from the original (thumbnail size): the occluder,
    whatever its fill, give or take dark pixels under a black one."""
    if orig.size != occ.size:
        return None
    a, b = np.asarray(orig, np.int16), np.asarray(occ, np.int16)
    return np.abs(a - b).max(-1) > 32


class Assets:
    """Thumbnails and plots under the assets folder, each written once, named by a hash of its key."""

    def __init__(self, folder: Path, href: str):
        self.folder, self.href = folder, href
        self.done: dict[str, dict] = {}

    def image(self, key: str, im: Image.Image) -> dict:
        """Write ``im`` as a JPEG (once per key); its ``src``, ``w`` and ``h`` for the page."""
        if key not in self.done:
            name = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:16] + ".jpg"
            im.save(self.folder / name, format="JPEG", quality=85, optimize=True)
            self.done[key] = {"src": f"{self.href}/{name}", "w": im.width, "h": im.height}
        return self.done[key]

    def svg(self, name: str, fig) -> dict:
        """Write a matplotlib figure as ``name.svg`` (no date, so reproducible); its ``src``, ``w``, ``h``."""
        path = self.folder / f"{name}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        w, h = fig.get_size_inches() * 72
        return {"src": f"{self.href}/{path.name}", "w": int(w * 1.333), "h": int(h * 1.333)}


#: What the middle image of a sample shows, by what was there to draw it from.
OVERLAY_KINDS = ("parts", "mask", "derived", "none")


def missing(text: str) -> dict:
    """A slot with no image: the page shows ``text`` in its place."""
    return {"missing": text, "note": "", "kind": "none"}


class Images:
    """The original, occluded, part-map and mask thumbnails of a relpath in a run."""

    def __init__(self, assets: Assets):
        self.assets = assets
        self._cache: dict[tuple[str, str], Image.Image | None] = {}

    def _thumb(self, kind: str, path: Path) -> Image.Image | None:
        key = (kind, str(path))
        if key not in self._cache:
            self._cache[key] = open_rgb(path)
        return self._cache[key]

    def original(self, run: Run, rel: str) -> Image.Image | None:
        """Thumbnail of the input image (None when the input folder is gone or the file unreadable)."""
        return self._thumb("img", run.input / rel) if run.input_ok and run.input is not None else None

    def occluded(self, run: Run, rel: str) -> Image.Image | None:
        """Thumbnail of the run's output image (None when missing or unreadable)."""
        return self._thumb("img", run.root / rel)

    def slot(self, kind: str, path_key: str, im: Image.Image | None, missing_text: str, note: str = "") -> dict:
        """One image of the page (or the reason it is missing); ``kind`` also says what it shows
        (``OVERLAY_KINDS`` for the middle image of a sample)."""
        if im is None:
            return missing(missing_text)
        return {**self.assets.image(f"{kind}:{path_key}", im), "missing": "", "note": note, "kind": kind}

    def overlay(self, runs: list[Run], rel: str) -> dict:
        """Part map blended on the original (or on the occluded image when the input is gone);
        without a saved part map, the occluder mask (saved, or derived from the two images). Its
        ``kind`` says which; the page explains the usual one once and notes only the others."""
        base_run = runs[0]
        orig = self.original(base_run, rel)
        base = orig if orig is not None else self.occluded(base_run, rel)
        if base is None:
            return missing("no image to draw on")
        for run in runs:
            ppath = OutputTree(run.root).part_path(rel)
            if run.has_parts and ppath.exists():
                parts = open_index(ppath, base.size, "parts")
                if parts is not None:
                    note = "" if orig is not None else "on the occluded image"
                    return self.slot("parts", str(ppath), overlay_parts(base, parts), "", note)
        for run in runs:
            mpath = OutputTree(run.root).mask_path(rel)
            if run.has_masks and mpath.exists():
                mask = open_index(mpath, base.size, "mask")
                if mask is not None:
                    return self.slot("mask", str(mpath), overlay_mask(base, mask), "",
                                     "occluder from its saved mask: part map not saved")
        occ = self.occluded(base_run, rel)
        if orig is not None and occ is not None:
            mask = derived_mask(orig, occ)
            if mask is not None:
                return self.slot("derived", f"{base_run.root}/{rel}", overlay_mask(orig, mask), "",
                                 "occluder where the images differ: part map not saved")
        return missing("part map not saved (use --save-parts)")
