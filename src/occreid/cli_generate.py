"""The generator's commands: ``occreid generate`` (the occluded twin of a dataset) and ``occreid merge``
(the shards of one run), registered on the ``occreid`` group by ``occreid.cli``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .console import (
    EXIT_OUTPUT,
    EXIT_UNUSABLE,
    RateColumn,
    err,
    out,
    print_table,
    progress_callback,
    progress_display,
    summary_table,
    warn,
)
from .console import fail as _fail
from .cores import usable_cores
from .datasets import DATASETS
from .engines import ENGINES
from .imagefolder import imagefolder_note
from .images import MAX_FILE_BYTES, MAX_PIXELS
from .occlusion import DONOR_SPLITS, FILLS, PART_CHOICES, PRESETS, SHAPES, preset_params
from .parser import PARSERS, ParserError, options_from_cli
from .runner import SEED_MAX, GenerateConfig, OutputError
from .runner import generate as run_generate
from .shards import parse_shard
from .stopping import sigterm_stops


class _JpegQuality(click.ParamType):
    name = "keep|1-100"

    def convert(self, value, param, ctx):
        if value in (None, "keep"):
            return None
        try:
            q = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'keep' nor a number", param, ctx)
        if not 1 <= q <= 100:
            self.fail(f"{q} is not in 1..100", param, ctx)
        return q


class _ShardType(click.ParamType):
    name = "I/N"

    def convert(self, value, param, ctx):
        if value is None or not isinstance(value, str):
            return value
        try:
            return parse_shard(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _options(*options):
    """A named group of click options, listed by ``--help`` in the order written."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command
    return apply


#: Where the twin goes, its layout, seed and workers.
_RUN_OPTIONS = _options(
    click.option("--out", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
                 help="Output root: the same tree, names and sizes as DATASET, occluded. Must lie outside DATASET."),
    click.option("--layout", type=click.Choice(list(DATASETS)), default=None,
                 help="Dataset layout; detected when omitted. 'folder' takes any tree of images (no labels)."),
    click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True,
                 help="Run seed (0 to 2**32-1). Each image's draws depend only on (seed, its relative path)."),
    click.option("--workers", "-j", type=click.IntRange(1), default=None,
                 show_default="the usable CPU cores; with --engine ray, the cluster's",
                 help="Worker processes (or Ray actors), one parser each. Outputs do not depend on it."),
)


#: The body-part parser and what its class takes (``Parser.options_from_cli``).
_PARSER_OPTIONS = _options(
    click.option("--parser", default="mediapipe", show_default=True, metavar="|".join(PARSERS) + "|module:Class",
                 help="Body-part parser: 'mediapipe' (embedded, offline: MediaPipe's pose model run on the crop "
                      "itself), 'mediapipe-movenet' (the same with MoveNet Thunder's joints: better elbows and wrists, "
                      "about 1.5x the time; needs onnxruntime and scripts/get-movenet.sh once), "
                      "'mediapipe-graph' (MediaPipe's whole Pose graph, person detector first: for frames "
                      "that are not person crops), 'schp' (the paper's parser; needs --checkpoint and torch), or "
                      "'package.module:Class' for your own."),
    click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                 help="The parser's model file: SCHP's Pascal-Person-Part checkpoint "
                      "(exp-schp-201908270938-pascal-person-part.pth), or for mediapipe-movenet the converted "
                      "MoveNet Thunder (default ~/.cache/occreid/movenet-thunder.onnx, from scripts/get-movenet.sh)."),
    click.option("--device", default=None, help="SCHP device: cpu, cuda, cuda:1 ... (default: cuda if available)."),
    click.option("--batch-size", type=click.IntRange(1), default=None, help="SCHP images per forward pass."),
)


#: The occluder: a preset and the parameters that override it (``preset_params``), and how draws are grouped.
_OCCLUDER_OPTIONS = _options(
    click.option("--preset", type=click.Choice(list(PRESETS)), default="default", show_default=True,
                 help="A named set of occlusion parameters; the options below override it. "
                      + " ".join(f"{k}: {v[0]}." for k, v in PRESETS.items())),
    click.option("--part-choice", type=click.Choice(PART_CHOICES), default=None,
                 help="'present' [default]: one of the parts present in the image, so every person is occluded. "
                      "'paper': uniform over all six parts as in the paper; an absent part leaves the image as is."),
    click.option("--num-parts", type=click.IntRange(1, 6), default=None,
                 help="Parts covered by one occluder [default: 1]."),
    click.option("--target", type=click.FloatRange(0, 1), nargs=2, default=None, metavar="MIN MAX",
                 help="Fraction of the person's pixels to cover: parts are added or redrawn until inside it."),
    click.option("--pool-levels", type=int, default=None, help="Successive average pools [default: 4, the paper's]."),
    click.option("--pool-kernel", type=int, default=None, help="Pool kernel and stride [default: 2, the paper's]."),
    click.option("--threshold", type=float, default=None,
                 help="A coarse cell is occluded when its pooled mean exceeds this [default: 0 = any overlap]."),
    click.option("--fill", type=click.Choice(FILLS), default=None,
                 help="What the occluder looks like [default: black, the paper's]; 'texture' needs --texture-dir."),
    click.option("--shape", type=click.Choice(SHAPES), default=None,
                 help="The occluder [default: part, the paper's blob]: 'rectangle' (Feng et al.'s baseline), "
                      "'person' (another pedestrian of another identity), 'scene' (background of another image "
                      "in the part's coarse shape), 'object' (a cut-out from --objects). See docs/occluders.md."),
    click.option("--objects", "objects_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                 default=None,
                 help="Folder of object cut-outs for --shape object: ground/ (bins, cars) and held/ (bags, "
                      "umbrellas)."),
    click.option("--min-cover", type=click.FloatRange(0, 1, min_open=True), default=None,
                 help="Pasted shapes: share of the drawn part the occluder must cover [default: 0.5]."),
    click.option("--donor-split", type=click.Choice(DONOR_SPLITS), default=None,
                 help="Pasted shapes: draw donors from the target's own split [default: same] or from any split."),
    click.option("--per", type=click.Choice(["image", "tracklet"]), default="image", show_default=True,
                 help="Video datasets (MARS, CCVID): 'tracklet' draws one part order per tracklet, so the occluder "
                      "follows the same body part through the sequence."),
    click.option("--texture-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                 help="Folder of object images (bins, cars, umbrellas...) cut to the occluder's shape by --fill "
                      "texture."),
)


#: Which images are occluded, how they are written, what else is saved, the size guards.
_OUTPUT_OPTIONS = _options(
    click.option("--occlude", "splits", default=None, metavar="WHICH",
                 help="Occlude only these, comma-separated: roles (train, query, gallery) or split folder names "
                      "[default: every split, as the released datasets]. The others are copied unchanged."),
    click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
                 help="Occlude this fraction of each selected split, drawn reproducibly per image."),
    click.option("--jpeg-quality", type=_JpegQuality(), default="keep", show_default=True,
                 help="'keep' re-encodes JPEGs with their own quantisation tables (pixels off the occluder "
                      "unchanged)."),
    click.option("--save-parts", is_flag=True,
                 help="Save part maps as PNGs under OUT/_occreid/parts (reused by later runs)."),
    click.option("--save-masks", is_flag=True, help="Save occluder masks as PNGs under OUT/_occreid/masks."),
    click.option("--parts-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
                 help="Reuse the part maps saved by another run (its output root)."),
    click.option("--max-pixels", type=click.IntRange(1), default=MAX_PIXELS, show_default=True,
                 help="Refuse images with more pixels than this, from their header, before decoding (bombs)."),
    click.option("--max-file-size", "max_file_bytes", type=click.IntRange(1), default=MAX_FILE_BYTES, show_default=True,
                 help="Refuse image files larger than this many bytes before reading them."),
    click.option("--overwrite", is_flag=True,
                 help="Replace an output made with other parameters (removes what the previous run wrote)."),
)


#: Where the work runs: a shard of it, the local pool or Ray. None changes a byte of the output.
_ENGINE_OPTIONS = _options(
    click.option("--shard", type=_ShardType(), default=None,
                 help="Do shard I of N (0 <= I < N) of the inputs, split by a hash of their paths: N processes on any "
                      "hosts sharing --out (an array job) together write what one run writes; the last to finish "
                      "writes the manifest (or run occreid merge OUT)."),
    click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
                 help="Where the work runs: 'local' (this machine's processes) or 'ray' (Ray actors; "
                      "pip install 'occreid[ray]'). Same bytes either way."),
    click.option("--ray-address", default=None, metavar="ADDRESS",
                 help="--engine ray: join this Ray cluster (host:port, or 'auto'); without it a local one is started."),
)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_RUN_OPTIONS
@_PARSER_OPTIONS
@_OCCLUDER_OPTIONS
@_OUTPUT_OPTIONS
@_ENGINE_OPTIONS
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def generate(dataset: Path, progress: bool, **options):
    """Write the occluded twin of DATASET to --out.

    Each person gets a black, blocky occluder over one body part: a parser labels the six
    Pascal-Person-Part parts, one part is drawn, its mask is coarsened by repeated average
    pooling and fused into the image. A manifest (OUT/_occreid/manifest.csv) has one row per
    image. Rerunning the same command resumes. Exit codes: 0 all done, 1 some inputs could not be
    used (listed in the manifest), 2 usage or configuration error, 3 output not writable or disk
    full (rerun to resume), 130 interrupted, 143 terminated by SIGTERM (rerun to resume).

    \b
    Examples:
      occreid generate /data/prcc --out /data/occ_prcc
      occreid generate /data/LTCC_ReID --out /data/Occ_LTCC --seed 7 --workers 8
      occreid generate ./crops --layout folder --out ./crops_occ
      occreid generate /data/prcc --out /data/occ_prcc_hard --preset hard --occlude query
      occreid generate /data/MARS --out /shared/occ_mars --shard $SLURM_ARRAY_TASK_ID/16
      occreid generate /data/MARS --out /shared/occ_mars --engine ray --ray-address auto
    """
    cfg = config_from_options(dataset, options)
    result = _run(cfg, progress)
    _report(cfg, result)
    if result.unusable:
        sys.exit(EXIT_UNUSABLE)


#: The options ``preset_params`` takes: they override the preset's occluder.
_OCCLUDER_KEYS = ("part_choice", "num_parts", "target", "pool_levels", "pool_kernel", "threshold", "fill", "shape",
                  "min_cover", "donor_split", "texture_dir", "objects_dir")
#: The options the parser's class reads (``Parser.options_from_cli``).
_PARSER_KEYS = ("checkpoint", "device", "batch_size")


def config_from_options(dataset: Path, options: dict) -> GenerateConfig:
    """The run's ``GenerateConfig`` from generate's options, each group by its own rule; a usage
    error (exit 2) names the option that cannot be taken."""
    options = dict(options)
    occluder = {k: options.pop(k) for k in _OCCLUDER_KEYS}
    occluder.update(target=occluder["target"] or None, texture_dir=_text(occluder["texture_dir"]),
                    objects_dir=_text(occluder["objects_dir"]))
    preset = options["preset"]
    try:
        occlusion = preset_params(preset, **occluder)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:  # what the parser class declares it takes (Parser.options_from_cli)
        parser_options = options_from_cli(options["parser"], {k: options.pop(k) for k in _PARSER_KEYS})
    except ParserError as exc:
        raise click.UsageError(str(exc)) from None
    if options["ray_address"] and options["engine"] != "ray":
        raise click.UsageError("--ray-address applies to --engine ray only.")
    if options["workers"] is None:  # ray: one actor per CPU (GPU for SCHP) of the cluster
        options["workers"] = 0 if options["engine"] == "ray" else usable_cores()
    splits = options.pop("splits")
    return GenerateConfig(input=dataset, parser_options=parser_options, occlusion=occlusion,
                          splits=tuple(x.strip() for x in splits.split(",") if x.strip()) if splits else None,
                          **options)


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def _run(cfg: GenerateConfig, progress: bool):
    """The run under a progress bar that appears once the checks have passed; an output that
    cannot be written ends it here (exit 3), the other errors in the command group (``cli._Main``)."""
    bar = progress_display(TextColumn("[bold]occluding"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                           TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), show=progress)
    on_progress = progress_callback(bar, bar.add_task("occluding", total=None))
    try:
        with sigterm_stops():
            return run_generate(cfg, progress=on_progress)
    except OutputError as exc:  # after the bar stops
        bar.stop()
        text = str(exc.strerror or exc).rstrip(".")
        _fail(text + ("." if "resume" in text else ". Nothing finished is lost: free space or fix the output, then "
                      "rerun the same command to resume."), EXIT_OUTPUT)
    finally:
        bar.stop()


def _report(cfg: GenerateConfig, result) -> None:
    """What the run did: warnings, the summary table, where the manifest is, what could not be used."""
    output, shard = cfg.output, cfg.shard
    for w in result.warnings:
        warn(w, "labels would be misread")
    for note in result.notes:
        err.print(Text(note), soft_wrap=True)
    title = f"occreid generate: {cfg.input} -> {output}" + (f" (shard {shard})" if shard else "")
    print_table(summary_table(result.summary, title))
    for n in _notes(cfg, result):
        out.print(Text(n))
    if result.redone or result.removed:
        out.print(f"verified: {result.redone} image(s) redone (input changed or output damaged), "
                  f"{result.removed} output(s) of inputs that are gone removed")
    skipped_others = sum(r["action"] != "copied" for r in result.other_files)
    if skipped_others:
        err.print(Text.assemble((f"{skipped_others} other file(s) could not be copied", "bold red"),
                                f"; reasons in {output / '_occreid' / 'other_files.csv'}."))
    if result.errors:
        err.print(Text.assemble((f"{result.errors} image(s) could not be used", "bold red"),
                                "; their reasons are in the manifest (status 'error')."))


def _notes(cfg: GenerateConfig, result) -> list[str]:
    """The lines after the table: copies, resumed images, the manifest or the shards still to finish."""
    output, shard = cfg.output, cfg.shard
    notes = [f"other files copied unchanged: {result.copied}"]
    if result.skipped:
        notes.append(f"resumed: {result.skipped} images were already done")
    if shard is None or result.merged:
        if shard is not None:
            notes.append(f"all {shard.count} shards done: merged")
        notes.append(f"manifest: {output / '_occreid' / 'manifest.csv'}")
        notes.append(imagefolder_note(output) or "")
    else:
        left = ", ".join(f"{i}/{shard.count}" for i in result.waiting[:8]) + (" ..." if len(result.waiting) > 8 else "")
        notes.append(f"shard {shard} done; waiting for {len(result.waiting)} of {shard.count} ({left}): the last to "
                     f"finish writes the manifest (or run occreid merge {output})")
    return [n for n in notes if n]


@click.command()
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
def merge(output):
    """Merge the finished shards of OUTPUT (made with generate --shard I/N) into its manifest.csv,
    other_files.csv, summary.json and run.json: the same bytes one unsharded run writes. The last
    shard to finish does this itself; run it when that shard could not (or to check). Exit codes: 0
    merged, 1 merged but some inputs could not be used, 2 shards unfinished, mixed or damaged."""
    from .shards import merge as merge_shards

    try:
        with sigterm_stops():
            result = merge_shards(output)
    except OSError as exc:
        _fail(f"cannot write the merged files under {output} ({exc.strerror or exc}); free space or fix the output, "
              "then merge again.", EXIT_OUTPUT)
    for w in result.warnings:
        warn(w, "labels would be misread")
    print_table(summary_table(result.summary, f"occreid merge: {result.count} shards of {output}"))
    out.print(f"manifest: {output / '_occreid' / 'manifest.csv'}")
    note = imagefolder_note(output)
    if note:
        out.print(Text(note))
    if result.unusable:
        sys.exit(EXIT_UNUSABLE)
