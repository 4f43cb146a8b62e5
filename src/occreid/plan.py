"""The run plan: what a generate run decided before its first image, built once in the main process
and handed, frozen, to the engine and to every worker.

A worker used to derive these again from the options: the layout bound to the input (for MARS,
reading ``info/*.mat`` again), the parameter hash (for ``--shape object``, hashing every object
again; for SCHP, the checkpoint) and the output tree. Now the main process decides them once and a
worker only reads them, so every process of a run works from the same facts by construction. A
plan is plain data: it pickles into a spawned worker or a Ray actor (put once in Ray's store).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import GenerateConfig, params_hash
from .datasets import Layout, Record
from .inputs import bound_layout
from .occlusion import DONOR_SHAPES
from .shards import shard_tree
from .status import Status
from .writer import ManifestRow, OutputTree

#: A donor candidate as plain data: (relpath, split, pid, image path), ``occlusion.Candidate``'s fields.
DonorData = tuple[str, str, int | None, str]


def output_tree(config: GenerateConfig) -> OutputTree:
    """The output tree a run writes through: a shard's keeps its temporary files in its own folder."""
    if config.shard is not None:
        return shard_tree(config.output, config.shard)
    return OutputTree(config.output)


def donor_candidates(config: GenerateConfig, records: Iterable[Record]) -> tuple[DonorData, ...]:
    """Every image of the dataset as the plain data a worker's ``DonorBank`` is built from.
    Donors are drawn within the target's split folder by default."""
    return tuple((r.relpath, r.split, r.pid, str(config.input / r.relpath)) for r in records)


@dataclass(frozen=True)
class RunPlan:
    """One run's decisions, made once (``RunPlan.build``) and read by every process.

    ``tree`` is the one object of the plan with state of its own (the folders it has made, a cache):
    in the main process the runner and an in-process worker share it; each other process has its copy."""

    config: GenerateConfig  # the options as run: paths absolute for Ray, --save-parts on for pasted shapes
    layout: str  # the dataset's layout name
    roles: Layout  # that layout bound to the input: roles of the split policy, list files read once
    fingerprint: dict  # what decides the output bytes (run state, run.json, shard.json)
    params: str  # its hash, recorded in every row of the run state
    tree: OutputTree  # where this run writes (a shard: its own temporary folder)
    donors: tuple[DonorData, ...] | None = None  # pasted shapes (person, scene): every image of the dataset

    @classmethod
    def build(cls, config: GenerateConfig, layout: str, records: Iterable[Record] = ()) -> RunPlan:
        """The plan of ``config`` over a dataset of ``layout`` whose images are ``records`` (the
        donors of pasted shapes; the others ignore them). Hashes objects, textures and the
        checkpoint once, here."""
        fingerprint = config.fingerprint(layout)
        donors = donor_candidates(config, records) if config.occlusion.shape in DONOR_SHAPES else None
        return cls(config=config, layout=layout, roles=bound_layout(layout, config.input), fingerprint=fingerprint,
                   params=params_hash(fingerprint), tree=output_tree(config), donors=donors)

    def owns(self, relpath: str) -> bool:
        """Whether this process does ``relpath``: every input, or with ``--shard`` its share."""
        return self.config.shard is None or self.config.shard.owns(relpath)

    def row(self, rec: Record, status: Status, reason: str = "", **extra) -> dict:
        """The manifest row of one image: its labels, what became of it, and the run's parameters."""
        cfg, o = self.config, self.config.occlusion
        return ManifestRow(
            relpath=rec.relpath, split=rec.split, pid=rec.pid, camera=rec.camera, clothes=rec.clothes,
            status=status, reason=reason, preset=cfg.preset, part_choice=o.part_choice, parser=cfg.parser,
            seed=cfg.seed, pool_levels=o.pool_levels, pool_kernel=o.pool_kernel, threshold=o.threshold, fill=o.fill,
            shape=o.shape, **extra,
        ).to_csv()

