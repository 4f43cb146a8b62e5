"""What one generate run is: its options (``GenerateConfig``), the fingerprint of those that decide
the output bytes, and the error a run that cannot start as asked raises."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OccreidError
from .images import MAX_FILE_BYTES, MAX_PIXELS
from .inputs import CHECKPOINT_BYTES, file_digest
from .occlusion import OcclusionParams
from .occlusion.donors import ObjectBank, objects_digest
from .occlusion.textures import check_textures, textures_digest
from .shards import Shard

#: 2: state in SQLite, part_source / presence / shape / donor / part_covered columns, size guards,
#: EXIF-upright parsing, the direct pose parser. 3: part maps saved as 8-bit palette PNGs with
#: unfiltered rows (the same labels; version 2's 4-bit maps still load, through Pillow).
FORMAT_VERSION = 3
#: How draws are grouped: every image on its own, or one part order per video tracklet.
PER_CHOICES = ("image", "tracklet")
SEED_MAX = 2**32 - 1  # the seed enters each image's generator as 32 bits: larger ones would alias


def source_digest(root: Path) -> str:
    """The first 16 hex digits of SHA-256 over the ``.py`` files under ``root`` (relative path and
    bytes of each, in path order; ``__pycache__`` left out)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" not in rel.parts:
            h.update(rel.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def code_digest() -> str:
    """``source_digest`` of the installed occreid package. Other code may draw other part maps or
    occluders from the same options, so the fingerprint holds it: an output resumes, and shards
    merge, only under the code that began them (a changed source is refused in one sentence,
    never mixed into the same output)."""
    return source_digest(Path(__file__).resolve().parent)


class RunError(OccreidError, RuntimeError):
    """The run cannot start as asked (paths, parameters, parser); the message says what to do."""


@dataclass(frozen=True)
class GenerateConfig:
    """One generate run. Fields in ``fingerprint()`` decide the output bytes; the others don't."""

    input: Path
    output: Path
    layout: str | None = None
    seed: int = 0
    workers: int = 1
    parser: str = "mediapipe"
    parser_options: dict = field(default_factory=dict)
    occlusion: OcclusionParams = field(default_factory=OcclusionParams)
    preset: str = "default"  # recorded only: ``occlusion`` holds the preset's parameters
    splits: tuple[str, ...] | None = None  # occlude only these roles (train/query/gallery) or splits
    fraction: float = 1.0  # occlude this fraction of the selected images (drawn per image)
    jpeg_quality: int | None = None  # None: keep the source's own quantisation tables
    save_parts: bool = False
    save_masks: bool = False
    parts_from: Path | None = None
    overwrite: bool = False
    chunk_size: int = 8
    max_pixels: int = MAX_PIXELS  # images larger than this are refused before decoding
    max_file_bytes: int = MAX_FILE_BYTES  # files larger than this are refused before reading
    per: str = "image"  # "tracklet": one part order per video tracklet, so the occluder follows the person
    # where the work runs; none of these changes a byte of the output, so none is in the fingerprint
    shard: Shard | None = None  # --shard I/N: this process does the inputs whose path hashes to I mod N
    engine: str = "local"  # local (this machine's processes) or ray
    ray_address: str | None = None  # --engine ray: join this cluster (None: start a local one)

    def fingerprint(self, layout: str) -> dict:
        opts = {k: str(v) for k, v in sorted(self.parser_options.items()) if k in ("checkpoint", "input_size")}
        extra = {}
        if self.per != "image":
            extra["per"] = self.per
        if self.occlusion.shape == "object" and self.occlusion.objects_dir is not None:
            extra["objects"] = objects_digest(self.occlusion.objects_dir)  # other objects, other bytes
        if self.occlusion.fill == "texture" and self.occlusion.texture_dir is not None:
            extra["textures"] = textures_digest(self.occlusion.texture_dir)  # other textures, other bytes
        if self.parser_options.get("checkpoint"):  # other weights under the same path: other part maps
            extra["checkpoint_sha256"] = checkpoint_digest(self.parser_options["checkpoint"])
        return extra | {
            "format_version": FORMAT_VERSION,
            "code": code_digest(),
            "layout": layout,
            "seed": self.seed,
            "parser": self.parser,
            "parser_options": opts,
            "occlusion": self.occlusion.as_dict(),
            "preset": self.preset,
            "splits": sorted(self.splits) if self.splits else "all",
            "fraction": self.fraction,
            "jpeg_quality": "keep" if self.jpeg_quality is None else self.jpeg_quality,
            "save_parts": self.save_parts,
            "save_masks": self.save_masks,
            "max_pixels": self.max_pixels,
            "max_file_bytes": self.max_file_bytes,
        }


def checkpoint_digest(path) -> str:
    """SHA-256 of a checkpoint's bytes ("" when it is not a regular file of at most 4 GiB: refused
    before the first image by ``check_side_inputs``)."""
    return file_digest(path, "sha256", CHECKPOINT_BYTES)


def check_side_inputs(cfg: GenerateConfig) -> None:
    """Before the first image, every file a run reads besides the dataset: objects and textures
    decoded once (an unreadable one, a mask of another size or empty, one over the size guards),
    the checkpoint a regular file of bounded size; options that would be ignored are refused.
    RunError in one sentence (exit 2), so no run ends with one error row per image instead."""
    o = cfg.occlusion
    if o.objects_dir is not None and o.shape != "object":
        raise RunError(f"--objects applies to --shape object only (this run's shape is {o.shape}); add "
                       "--shape object or leave --objects out.")
    if o.texture_dir is not None and o.fill != "texture":
        raise RunError(f"--texture-dir applies to --fill texture only (this run's fill is {o.fill}); add "
                       "--fill texture or leave --texture-dir out.")
    try:
        if o.shape == "object" and o.objects_dir is not None:
            ObjectBank(o.objects_dir).check()
        if o.fill == "texture" and o.texture_dir is not None:
            check_textures(o.texture_dir)
    except ValueError as exc:
        message = str(exc)
        for field_name, option in (("objects_dir", "--objects"), ("texture_dir", "--texture-dir")):
            if message.startswith(field_name):
                message = option + message[len(field_name):]
        raise RunError(message) from None
    checkpoint = cfg.parser_options.get("checkpoint")
    if checkpoint:
        _check_checkpoint(checkpoint)


def _check_checkpoint(checkpoint) -> None:
    """RunError unless the checkpoint is a readable regular file of bounded size (never blocks on a FIFO)."""
    try:
        fd = os.open(checkpoint, os.O_RDONLY | os.O_NONBLOCK)  # never blocks on a FIFO
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise RunError(f"--checkpoint {checkpoint} cannot be read ({exc.strerror or exc}).") from None
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"--checkpoint {checkpoint} is not a regular file; give the .pth file itself.")
    if st.st_size > CHECKPOINT_BYTES:
        raise RunError(f"--checkpoint {checkpoint} is {st.st_size:,} bytes, over the limit of "
                       f"{CHECKPOINT_BYTES:,}: not an SCHP checkpoint (267 MB).")


def params_hash(fingerprint: dict) -> str:
    """The fingerprint's SHA-1, recorded in every row of the run state (``RunPlan.params``)."""
    return hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()

