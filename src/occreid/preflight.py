"""The checks before the first image: options, paths, split names, the parser, links and
folders where occreid writes (containment), the output's writability and free space, and the
part maps sharded pasted shapes need. Each refuses with one sentence (RunError, exit 2; OutputError,
exit 3) before anything is written."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from .config import PER_CHOICES, SEED_MAX, GenerateConfig, RunError
from .containment import link_on_path
from .datasets import STATE_DIR, Dataset
from .engines import ENGINES
from .inputs import bound_layout
from .output import MASKS_DIR, PARTS_DIR, SHARDS_DIR, TMP_DIR
from .parser import RegistryError, build_parser, parser_class
from .shards import Shard
from .writer import OutputError, OutputTree, tmp_name

_FREE_MARGIN = 1024 * 1024


def check_options(cfg: GenerateConfig) -> None:
    if not 0.0 < cfg.fraction <= 1.0:
        raise RunError(f"fraction must be in (0, 1], got {cfg.fraction}")
    if not 0 <= cfg.seed <= SEED_MAX:
        raise RunError(f"seed must be in 0..{SEED_MAX} (32 bits), got {cfg.seed}")
    if cfg.engine not in ENGINES:
        raise RunError(f"--engine must be one of {', '.join(ENGINES)}, got {cfg.engine!r}")
    if cfg.ray_address and cfg.engine != "ray":
        raise RunError("--ray-address applies to --engine ray only.")
    if cfg.shard is not None and not (isinstance(cfg.shard, Shard) and 0 <= cfg.shard.index < cfg.shard.count):
        raise RunError(f"--shard {cfg.shard}: write it as I/N with 0 <= I < N.")
    if not (cfg.engine == "ray" and cfg.workers == 0) and int(cfg.workers) < 1:  # ray: 0 = the cluster's CPUs
        raise RunError(f"workers must be at least 1, got {cfg.workers}")
    for name, value in (("chunk_size", cfg.chunk_size), ("max_pixels", cfg.max_pixels),
                        ("max_file_bytes", cfg.max_file_bytes)):
        if int(value) < 1:
            raise RunError(f"{name} must be at least 1, got {value}")
    if cfg.per not in PER_CHOICES:
        raise RunError(f"--per must be one of {', '.join(PER_CHOICES)}, got {cfg.per!r}")
    if cfg.parts_from is not None and not (Path(cfg.parts_from) / STATE_DIR).is_dir():
        raise RunError(f"--parts-from {cfg.parts_from} is not an occreid output (it has no {STATE_DIR}/ folder).")


def check_paths(cfg: GenerateConfig) -> None:
    src, dst = cfg.input.resolve(), cfg.output.resolve()
    if src == dst:
        raise RunError(f"--out is the input folder ({src}); occreid never writes into its input. Choose another --out.")
    if dst.is_relative_to(src):
        raise RunError(f"--out ({dst}) is inside the input ({src}); occreid never writes into its input. "
                       "Choose a folder outside it.")
    if src.is_relative_to(dst):
        raise RunError(f"the input ({src}) is inside --out ({dst}); choose an output folder that does not "
                       "contain the input.")
    if cfg.output.exists() and not cfg.output.is_dir():
        raise RunError(f"--out {cfg.output} exists and is not a folder; choose a folder.")


def check_splits(cfg: GenerateConfig, ds: Dataset) -> None:
    """Refuse ``--occlude`` names that are neither a role nor a split folder this dataset has."""
    if not cfg.splits:
        return
    layout = bound_layout(ds.layout, ds.root)
    roles = sorted({r for r in (layout.role(rec) for rec in ds.records) if r})
    splits = sorted({rec.split for rec in ds.records})
    unknown = [s for s in cfg.splits if s not in roles and s not in splits]
    if unknown:
        raise RunError(f"--occlude {','.join(unknown)}: not a split of this {ds.layout} dataset; use roles "
                       f"({', '.join(roles) or 'none'}) or split folders ({', '.join(splits)}).")


def prebuilt_parser(cfg: GenerateConfig):
    """The parser built once in the main process (plugins and SCHP with its checkpoint); the embedded
    parsers are only checked to be installed, so reusing saved part maps stays fast."""
    try:
        cls = parser_class(cfg.parser)
    except RegistryError:
        cls = None  # build_parser says why, in the run's words
    if cls is not None and not getattr(cls, "prebuild", True):
        return None
    return build_parser(cfg.parser, dict(cfg.parser_options))


def make_output(cfg: GenerateConfig, tree: OutputTree) -> None:
    try:
        tree.state.mkdir(parents=True, exist_ok=True)
        probe = tree.state / f".probe-{tmp_name()}"  # unique across hosts: shards start at once
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as exc:
        raise OutputError(exc.errno or errno.EACCES, f"--out {cfg.output} is not writable ({exc.strerror or exc}); "
                          "choose a folder you can write to.") from None


def free_space_check(cfg: GenerateConfig, needed: int) -> None:
    try:
        free = shutil.disk_usage(cfg.output).free
    except OSError:
        return
    if free < needed + _FREE_MARGIN:
        raise OutputError(errno.ENOSPC, f"--out {cfg.output} has {free / 2**20:.0f} MiB free but this run needs about "
                          f"{(needed + _FREE_MARGIN) / 2**20:.0f} MiB; free some space (the run resumes where it "
                          "stopped).")


def check_donor_maps(cfg: GenerateConfig, ds: Dataset) -> None:
    """Shards and pasted shapes (person, scene): a shard's images draw donors from every shard, so
    every donor's part map must exist before any shard starts; they come from --parts-from."""
    if cfg.parts_from is None:
        raise RunError(f"--shard with --shape {cfg.occlusion.shape} needs every image's part map before any shard "
                       "starts: save them first (generate --save-parts, sharded too), then pass that output as "
                       "--parts-from.")
    source = OutputTree(cfg.parts_from)
    missing = [r.relpath for r in ds.records if not source.part_path(r.relpath).is_file()]
    if missing:
        raise RunError(f"--parts-from {cfg.parts_from} lacks the part maps of {len(missing)} of {len(ds.records)} "
                       f"images (e.g. {missing[0]}); with --shard and --shape {cfg.occlusion.shape} every image "
                       "needs one: finish the --save-parts run first.")


def check_links(cfg: GenerateConfig, tree: OutputTree, ds: Dataset) -> None:
    """Containment before the first image: refuse the run, naming it, when a place occreid writes
    into below --out is a symbolic link (``_occreid``, its ``tmp``, ``shards``, ``parts``,
    ``masks``, a split or any other folder of the mirrored tree, and those of the part maps and
    masks it saves), or when one of occreid's own folders is not a folder. Nothing is ever written
    or deleted through such a link (``containment.py``)."""
    root = os.fspath(tree.root)
    own = [STATE_DIR, os.path.relpath(tree.tmp, root), f"{STATE_DIR}/{SHARDS_DIR}", f"{STATE_DIR}/{PARTS_DIR}",
           f"{STATE_DIR}/{MASKS_DIR}"]
    known: set[str] = set()
    for rel in own:
        _refuse_link(cfg, link_on_path(root, rel, known))
        path = os.path.join(root, rel)
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            raise RunError(f"{path} is not a folder (occreid keeps its own files there); remove it and rerun.")
    shards = tree.state / SHARDS_DIR
    if shards.is_dir():  # every shard's folder and its tmp: a merge or an --overwrite acts on them
        for p in sorted(shards.iterdir()):
            for rel in (f"{STATE_DIR}/{SHARDS_DIR}/{p.name}", f"{STATE_DIR}/{SHARDS_DIR}/{p.name}/{TMP_DIR}"):
                _refuse_link(cfg, link_on_path(root, rel, known))
    folders = {rel.rpartition("/")[0] for rel in [r.relpath for r in ds.records] + list(ds.other_files)}
    folders.discard("")
    prefixes = [""] + [f"{STATE_DIR}/{kind}/" for kind, on in ((PARTS_DIR, cfg.save_parts), (MASKS_DIR, cfg.save_masks))
                       if on]
    for folder in sorted(folders):
        for prefix in prefixes:
            _refuse_link(cfg, link_on_path(root, prefix + folder, known))


def _refuse_link(cfg: GenerateConfig, link: str | None) -> None:
    if link is not None:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        raise RunError(f"{link} is a symbolic link (to {target}) inside --out {cfg.output}; occreid never writes "
                       "or deletes through links there: remove the link, or choose another --out.")
