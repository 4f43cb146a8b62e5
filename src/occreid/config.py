"""What one generate run is: its options (``GenerateConfig``), the fingerprint of those that decide
the output bytes, and the error a run that cannot start as asked raises."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .images import MAX_FILE_BYTES, MAX_PIXELS
from .occlusion import OcclusionParams
from .occlusion.donors import objects_digest
from .shards import Shard, shard_tree
from .writer import OutputTree

#: 2: state in SQLite, part_source / presence / shape / donor / part_covered columns, size guards,
#: EXIF-upright parsing, the direct pose parser. 3: part maps saved as 8-bit palette PNGs with
#: unfiltered rows (the same labels; version 2's 4-bit maps still load, through Pillow).
FORMAT_VERSION = 3
#: How draws are grouped: every image on its own, or one part order per video tracklet.
PER_CHOICES = ("image", "tracklet")
SEED_MAX = 2**32 - 1  # the seed enters each image's generator as 32 bits: larger ones would alias


class RunError(RuntimeError):
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
        return extra | {
            "format_version": FORMAT_VERSION,
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


def params_hash(fingerprint: dict) -> str:
    return hashlib.sha1(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def output_tree(cfg: GenerateConfig) -> OutputTree:
    """The output tree a run writes through: a shard's keeps its temporary files in its own folder."""
    if cfg.shard is not None:
        return shard_tree(cfg.output, cfg.shard)
    return OutputTree(cfg.output)
