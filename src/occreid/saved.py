"""What a generate run saved, read back in one place: its parameters (``run.json``), and its part
maps through ``partmaps`` (the part-map file's one reader and writer, re-exported here)::

    OUT/_occreid/run.json             {"fingerprint": {..., "seed", "occlusion": {...}}, "input", "occreid"}
    OUT/_occreid/parts/<relpath>.png  a part map (``partmaps``)

The runner (reusing maps with ``--parts-from``), ``augment.OccludeTransform`` (occluding at training
time), the report, ``labels`` and ``bench`` read these; where they lie is ``output.py``'s to say.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import OccreidError
from .images import ImageError
from .inputs import read_side_file
from .occlusion import OcclusionParams
from .output import PARTS_DIR, RUN_FILE, OutputTree, part_map_path, parts_dir, run_file
from .partmaps import SavedParts, read_labels, read_part_map
from .writer import write_json

#: The fields of ``OcclusionParams`` that JSON turns from tuples into lists.
_TUPLE_FIELDS = ("target", "rect_sides", "rect_fraction", "person_scale", "person_drop", "object_size")


class RunFileError(OccreidError, ValueError):
    """``run.json`` is missing, damaged or not occreid's; the message says which and what to do."""


# -- the run's parameters -----------------------------------------------------------------------
def write_run_file(tree: OutputTree, fingerprint: dict | None, version: str | None, input: str | None) -> None:
    """Write ``run.json``, the one writer of the run record: a run writes its own (``runner``), a
    merge what the shards recorded (``shards.merge``); ``read_run_file`` / ``read_run`` read it."""
    write_json(tree, tree.run_file, {"fingerprint": fingerprint, "occreid": version, "input": input})


def read_run_file(output_root: str | Path) -> dict:
    """``run.json`` of an output root as a dict; RunFileError (one sentence) when it cannot be read."""
    path = run_file(output_root)
    if not os.path.lexists(path):
        raise RunFileError(f"{path} does not exist: is {output_root} an occreid output?")
    try:  # a regular file of bounded size: a FIFO there never blocks augment, report or a resume
        info = json.loads(read_side_file(path).decode("utf-8"))
    except (OSError, ValueError, ImageError) as exc:
        raise RunFileError(f"{path} cannot be read ({exc}); rerun the generate command to rewrite it.") from None
    if not isinstance(info, dict) or not isinstance(info.get("fingerprint"), dict):
        raise RunFileError(f"{path} holds no run fingerprint; rerun the generate command to rewrite it.")
    return info


def params_from_fingerprint(occlusion: dict) -> OcclusionParams:
    """The ``OcclusionParams`` a fingerprint's ``occlusion`` entry records (lists back to tuples)."""
    fields = dict(occlusion)
    for key in _TUPLE_FIELDS:
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return OcclusionParams(**fields)


@dataclass(frozen=True)
class SavedRun:
    """A run's parameters: the occlusion, the seed, the input folder and the whole fingerprint."""

    root: Path
    params: OcclusionParams
    seed: int
    input: Path | None
    fingerprint: dict


def read_run(output_root: str | Path) -> SavedRun:
    """The parameters of the run at ``output_root``; RunFileError (one sentence) when ``run.json``
    is missing, damaged, or records parameters this version cannot rebuild."""
    info = read_run_file(output_root)
    fp = info["fingerprint"]
    path = run_file(output_root)
    try:
        params = params_from_fingerprint(fp["occlusion"])
        seed = int(fp["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFileError(f"{path} cannot be read ({exc}); rerun the generate command to rewrite it.") from None
    return SavedRun(Path(output_root), params, seed, Path(info["input"]) if info.get("input") else None, fp)


__all__ = [
    "PARTS_DIR", "RUN_FILE", "RunFileError", "SavedParts", "SavedRun", "params_from_fingerprint", "part_map_path",
    "parts_dir", "read_labels", "read_part_map", "read_run", "read_run_file", "run_file", "write_run_file",
]
