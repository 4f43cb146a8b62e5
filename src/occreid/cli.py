"""The ``occreid`` command line."""

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

from . import __version__
from .console import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_UNUSABLE,
    EXIT_USAGE,
    RateColumn,
    err,
    fail,
    out,
    print_table,
    progress_display,
    split_label,
    summary_table,
    warn,
)
from .console import borderless_table as _table
from .datasets import DATASETS, LayoutError
from .engines import ENGINES, EngineError, usable_cores
from .images import MAX_FILE_BYTES, MAX_PIXELS
from .occlusion import DONOR_SPLITS, FILLS, PART_CHOICES, PRESETS, SHAPES, preset_params
from .parser import PARSERS
from .runner import SEED_MAX, GenerateConfig, OutputError, RunError, StateError, WorkerLost
from .runner import generate as run_generate
from .shards import ShardError, parse_shard
from .stopping import TERMINATED_LINE, Terminated, sigterm_stops
from .writer import ManifestError

#: The shared error helper under its older name (``fail`` in occreid.console).
_fail = fail


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


class _Main(click.Group):
    """The command group: Ctrl-C in any command exits 130 with one line (click alone says
    "Aborted!" and exits 1, the code of "some image could not be used"), and click's own errors
    (a bad option, a missing argument) read as every other error: ``error:`` and one sentence,
    exit 2, instead of click's usage block and "Error:"."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "occreid"
            message = exc.format_message().strip()
            fail(f"{message}{'' if message[-1:] in '.?!' else '.'} See '{command} -h'.", exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            fail("interrupted; rerun the same command to resume.", EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # SIGTERM (Terminated) too: 143
            if isinstance(exc, Terminated):
                fail(TERMINATED_LINE, EXIT_TERMINATED)
            fail("interrupted; rerun the same command to resume.", EXIT_INTERRUPTED)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="occreid")
def main() -> None:
    """occreid: make the occluded twin of a person re-ID dataset (the Occluded-PRCC / Occluded-LTCC
    procedure), offline, and evaluate re-ID models on it."""


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output root: the same tree, names and sizes as DATASET, occluded. Must lie outside DATASET.")
@click.option("--layout", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset layout; detected when omitted. 'folder' takes any tree of images (no labels).")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True,
              help="Run seed (0 to 2**32-1). Each image's draws depend only on (seed, its relative path).")
@click.option("--workers", "-j", type=click.IntRange(1), default=None,
              show_default="the usable CPU cores; with --engine ray, the cluster's",
              help="Worker processes (or Ray actors), one parser each. Outputs do not depend on it.")
@click.option("--parser", default="mediapipe", show_default=True, metavar="|".join(PARSERS) + "|module:Class",
              help="Body-part parser: 'mediapipe' (embedded, offline: MediaPipe's pose model run on the crop "
                   "itself), 'mediapipe-graph' (MediaPipe's whole Pose graph, person detector first: for frames "
                   "that are not person crops), 'schp' (the paper's parser; needs --checkpoint and torch), or "
                   "'package.module:Class' for your own.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SCHP Pascal-Person-Part checkpoint (exp-schp-201908270938-pascal-person-part.pth).")
@click.option("--device", default=None, help="SCHP device: cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="SCHP images per forward pass.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="default", show_default=True,
              help="A named set of occlusion parameters; the options below override it. "
                   + " ".join(f"{k}: {v[0]}." for k, v in PRESETS.items()))
@click.option("--part-choice", type=click.Choice(PART_CHOICES), default=None,
              help="'present' [default]: one of the parts present in the image, so every person is occluded. "
                   "'paper': uniform over all six parts as in the paper; an absent part leaves the image as is.")
@click.option("--num-parts", type=click.IntRange(1, 6), default=None,
              help="Parts covered by one occluder [default: 1].")
@click.option("--target", type=click.FloatRange(0, 1), nargs=2, default=None, metavar="MIN MAX",
              help="Fraction of the person's pixels to cover: parts are added or redrawn until inside it.")
@click.option("--pool-levels", type=int, default=None, help="Successive average pools [default: 4, the paper's].")
@click.option("--pool-kernel", type=int, default=None, help="Pool kernel and stride [default: 2, the paper's].")
@click.option("--threshold", type=float, default=None,
              help="A coarse cell is occluded when its pooled mean exceeds this [default: 0 = any overlap].")
@click.option("--fill", type=click.Choice(FILLS), default=None,
              help="What the occluder looks like [default: black, the paper's]; 'texture' needs --texture-dir.")
@click.option("--shape", type=click.Choice(SHAPES), default=None,
              help="The occluder [default: part, the paper's blob]: 'rectangle' (Feng et al.'s baseline), "
                   "'person' (another pedestrian of another identity), 'scene' (background of another image "
                   "in the part's coarse shape), 'object' (a cut-out from --objects). See docs/occluders.md.")
@click.option("--objects", "objects_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of object cut-outs for --shape object: ground/ (bins, cars) and held/ (bags, umbrellas).")
@click.option("--min-cover", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Pasted shapes: share of the drawn part the occluder must cover [default: 0.5].")
@click.option("--donor-split", type=click.Choice(DONOR_SPLITS), default=None,
              help="Pasted shapes: draw donors from the target's own split [default: same] or from any split.")
@click.option("--per", type=click.Choice(["image", "tracklet"]), default="image", show_default=True,
              help="Video datasets (MARS, CCVID): 'tracklet' draws one part order per tracklet, so the occluder "
                   "follows the same body part through the sequence.")
@click.option("--texture-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of object images (bins, cars, umbrellas...) cut to the occluder's shape by --fill texture.")
@click.option("--occlude", "splits", default=None, metavar="WHICH",
              help="Occlude only these, comma-separated: roles (train, query, gallery) or split folder names "
                   "[default: every split, as the released datasets]. The others are copied unchanged.")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Occlude this fraction of each selected split, drawn reproducibly per image.")
@click.option("--jpeg-quality", type=_JpegQuality(), default="keep", show_default=True,
              help="'keep' re-encodes JPEGs with their own quantisation tables (pixels off the occluder unchanged).")
@click.option("--save-parts", is_flag=True,
              help="Save part maps as PNGs under OUT/_occreid/parts (reused by later runs).")
@click.option("--save-masks", is_flag=True, help="Save occluder masks as PNGs under OUT/_occreid/masks.")
@click.option("--parts-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Reuse the part maps saved by another run (its output root).")
@click.option("--max-pixels", type=click.IntRange(1), default=MAX_PIXELS, show_default=True,
              help="Refuse images with more pixels than this, from their header, before decoding (bombs).")
@click.option("--max-file-size", "max_file_bytes", type=click.IntRange(1), default=MAX_FILE_BYTES, show_default=True,
              help="Refuse image files larger than this many bytes before reading them.")
@click.option("--overwrite", is_flag=True,
              help="Replace an output made with other parameters (removes what the previous run wrote).")
@click.option("--shard", type=_ShardType(), default=None,
              help="Do shard I of N (0 <= I < N) of the inputs, split by a hash of their paths: N processes on any "
                   "hosts sharing --out (an array job) together write what one run writes; the last to finish "
                   "writes the manifest (or run occreid merge OUT).")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True,
              help="Where the work runs: 'local' (this machine's processes) or 'ray' (Ray actors; "
                   "pip install 'occreid[ray]'). Same bytes either way.")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="--engine ray: join this Ray cluster (host:port, or 'auto'); without it a local one is started.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def generate(dataset, output, layout, seed, workers, parser, checkpoint, device, batch_size, preset, part_choice,
             num_parts, target, pool_levels, pool_kernel, threshold, fill, shape, objects_dir, min_cover, donor_split,
             per, texture_dir, splits, fraction,
             jpeg_quality, save_parts, save_masks, parts_from, max_pixels, max_file_bytes, overwrite, shard, engine,
             ray_address, progress):
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
    try:
        occlusion = preset_params(preset, part_choice=part_choice, num_parts=num_parts, target=target or None,
                                  pool_levels=pool_levels, pool_kernel=pool_kernel, threshold=threshold, fill=fill,
                                  texture_dir=str(texture_dir) if texture_dir else None, shape=shape,
                                  objects_dir=str(objects_dir) if objects_dir else None, min_cover=min_cover,
                                  donor_split=donor_split)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    options = {}
    if parser == "schp":
        if checkpoint is None:
            raise click.UsageError("--parser schp needs --checkpoint (SCHP's Pascal-Person-Part .pth file).")
        options = {"checkpoint": str(checkpoint), "device": device}
        if batch_size:
            options["batch_size"] = batch_size
    elif checkpoint or device or batch_size:
        raise click.UsageError("--checkpoint, --device and --batch-size apply to --parser schp only.")
    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address applies to --engine ray only.")
    if workers is None:
        workers = 0 if engine == "ray" else usable_cores()  # ray: one actor per CPU (GPU for SCHP) of the cluster
    cfg = GenerateConfig(
        input=dataset, output=output, layout=layout, seed=seed, workers=workers, parser=parser,
        parser_options=options, occlusion=occlusion, preset=preset,
        splits=tuple(x.strip() for x in splits.split(",") if x.strip()) if splits else None, fraction=fraction,
        jpeg_quality=jpeg_quality, save_parts=save_parts,
        save_masks=save_masks, parts_from=parts_from, overwrite=overwrite, max_pixels=max_pixels,
        max_file_bytes=max_file_bytes, per=per, shard=shard, engine=engine, ray_address=ray_address,
    )
    bar = progress_display(TextColumn("[bold]occluding"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                           TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), show=progress)
    task = bar.add_task("occluding", total=None)

    def on_progress(total=None, advance=0):  # the bar appears once the checks have passed
        if total is not None:
            bar.update(task, total=total)
            bar.start()
        bar.advance(task, advance)

    try:
        with sigterm_stops():
            result = run_generate(cfg, progress=on_progress)
    except (RunError, LayoutError, StateError, ShardError, EngineError) as exc:
        bar.stop()
        _fail(str(exc), EXIT_USAGE)
    except OutputError as exc:
        bar.stop()
        text = str(exc.strerror or exc).rstrip(".")
        _fail(text + ("." if "resume" in text else ". Nothing finished is lost: free space or fix the output, then "
                      "rerun the same command to resume."), EXIT_OUTPUT)
    except KeyboardInterrupt as exc:  # Ctrl-C: 130; SIGTERM (Terminated): 143
        bar.stop()
        stopped = isinstance(exc, Terminated)
        _fail(TERMINATED_LINE if stopped else "interrupted; rerun the same command to resume.",
              EXIT_TERMINATED if stopped else EXIT_INTERRUPTED)
    except WorkerLost as exc:  # (a SIGTERM to the whole process group may end the workers first)
        bar.stop()
        _fail(str(exc), EXIT_INTERRUPTED)
    finally:
        bar.stop()
    for w in result.warnings:
        warn(w, "labels would be misread")
    for note in result.notes:
        err.print(Text(note), soft_wrap=True)
    title = f"occreid generate: {dataset} -> {output}" + (f" (shard {shard})" if shard else "")
    print_table(summary_table(result.summary, title))
    notes = [f"other files copied unchanged: {result.copied}"]
    if result.skipped:
        notes.append(f"resumed: {result.skipped} images were already done")
    if shard is None or result.merged:
        if shard is not None:
            notes.append(f"all {shard.count} shards done: merged")
        notes.append(f"manifest: {output / '_occreid' / 'manifest.csv'}")
    else:
        left = ", ".join(f"{i}/{shard.count}" for i in result.waiting[:8]) + (" ..." if len(result.waiting) > 8 else "")
        notes.append(f"shard {shard} done; waiting for {len(result.waiting)} of {shard.count} ({left}): the last to "
                     f"finish writes the manifest (or run occreid merge {output})")
    for n in notes:
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
    if result.unusable:
        sys.exit(EXIT_UNUSABLE)


@main.command()
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
    except Terminated:
        _fail(TERMINATED_LINE, EXIT_TERMINATED)
    except ShardError as exc:
        _fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        _fail(f"cannot write the merged files under {output} ({exc.strerror or exc}); free space or fix the output, "
              "then merge again.", EXIT_OUTPUT)
    for w in result.warnings:
        warn(w, "labels would be misread")
    print_table(summary_table(result.summary, f"occreid merge: {result.count} shards of {output}"))
    out.print(f"manifest: {output / '_occreid' / 'manifest.csv'}")
    if result.unusable:
        sys.exit(EXIT_UNUSABLE)


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the crops (FFFFFF_NN.jpg: frame, detection).")
@click.option("--every", type=click.IntRange(1), default=10, show_default=True, help="Use every N-th frame.")
@click.option("--min-height", type=click.IntRange(1), default=96, show_default=True, help="Smallest box height kept.")
def crops(video, output, every, min_height):
    """Cut real pedestrian crops out of a video with OpenCV's HOG people detector.

    Made for OpenCV's sample video vtest.avi (Debian package opencv-doc), so a machine without
    any re-ID dataset can still run the main job on real people:

    \b
      occreid crops vtest.avi --out demo/crops
      occreid generate demo/crops --layout folder --out demo/crops_occ
    """
    from .video import NoPersonFound, VideoError, crops_from_video

    try:
        files = crops_from_video(video, output, every=every, min_height=min_height)
    except (VideoError, NoPersonFound) as exc:
        _fail(str(exc), EXIT_UNUSABLE if isinstance(exc, NoPersonFound) else EXIT_USAGE)
    except OSError as exc:
        _fail(f"cannot write the crops to {output}: {exc.strerror or exc}.", EXIT_OUTPUT)
    out.print(f"{len(files)} pedestrian crops written to {output}")


@main.command()
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the statistics as JSON.")
def stats(output, json_path):
    """Statistics of a generated dataset, from its manifest, per split: statuses, parts covered,
    occluded image fraction and covered person fraction (10th / 50th / 90th percentile, %), and
    occluded images whose occluder misses the person."""
    import json

    from .stats import stats_for, write_atomic

    try:
        result = stats_for(output)
    except (FileNotFoundError, ManifestError) as exc:
        _fail(str(exc), EXIT_USAGE)
    quantiles = ("p10", "p50", "p90")
    counts = _table(f"occreid stats: {output}")
    shares = _table("occluded share of the image / of the person's pixels, %: percentiles over occluded images")
    for col in ("split", "images", "occluded", "no_person", "error", "misses person"):
        counts.add_column(col, justify="left" if col == "split" else "right", no_wrap=col != "misses person")
    for col in ("split", *(f"{what} % {q}" for what in ("image", "person") for q in quantiles)):
        shares.add_column(col, justify="left" if col == "split" else "right", no_wrap=col == "split")

    def pct(d, q):
        return "-" if d[q] is None else f"{d[q]:.1f}"

    for split, st in result.items():
        style = "bold" if split == "all" else None
        counts.add_row(split_label(split), *(str(st[k]) for k in ("images", "occluded", "no_person", "error",
                                                                   "misses_person")), style=style)
        shares.add_row(split_label(split), *(pct(st[key], q) for key in ("image_fraction", "person_fraction")
                                             for q in quantiles), style=style)
    print_table(counts)
    out.print("misses person: occluded images whose occluder covers none of the person")
    print_table(shares)
    for split, st in result.items():
        facts = [f"parts covered: {', '.join(f'{k} {v}' for k, v in st['parts'].items()) or '-'}"]
        sizes = st["parts_per_occluder"]
        if len(sizes) > 1:
            facts.append(f"parts per occluder: {', '.join(f'{k}: {v}' for k, v in sizes.items())}")
        facts += [f"{k} {st[k]}" for k in ("part_absent", "not_covered", "not_selected") if st.get(k)]
        if st["part_sources"]:
            facts.append(f"part maps from: {', '.join(f'{k} {v}' for k, v in st['part_sources'].items())}")
        if st["part_covered"]["p50"] is not None:
            facts.append("drawn part covered %: " + ", ".join(f"{q} {pct(st['part_covered'], q)}" for q in quantiles))
        if st["part_quality"]["p50"] is not None:
            facts.append("part-map quality: " + ", ".join(f"{q} {st['part_quality'][q]:.2f}" for q in quantiles))
        out.print(f"{split_label(split)}: " + "; ".join(facts))
    if json_path:
        try:
            write_atomic(json_path, (json.dumps(result, indent=2) + "\n").encode("utf-8"))
        except OSError as exc:
            _fail(f"cannot write {json_path}: {exc.strerror or exc}; free space or choose another path.", EXIT_OUTPUT)


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out2", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--html", "html", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The page to write, e.g. report/index.html; its images go to report/index_assets/.")
@click.option("--samples", type=click.IntRange(0, 50), default=4, show_default=True,
              help="Sampled images per split and body part.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the reproducible sampling.")
@click.option("--max-listed", type=click.IntRange(0), default=40, show_default=True,
              help="Most no_person and error images shown (each); all are counted.")
def report(out: Path, out2: Path | None, html: Path, samples: int, seed: int, max_listed: int) -> None:
    """Write a visual report of a generated dataset OUT (or of OUT and OUT2 side by side).

    The page shows statistics per split, plots of the parts drawn and of the occluded fractions
    (with the published samples' medians), sample grids (original | part map | occluded, and the
    donor of pasted occluders) per split and body part, and the images with no person or an error,
    with their reasons.

    \b
    Examples:
      occreid report /data/occ_prcc --html report/index.html
      occreid report /data/occ_prcc /data/occ_prcc_rect --html compare/index.html
    """
    from .report import ReportError, ReportOutputError, write_report

    try:
        res = write_report([out] + ([out2] if out2 else []), html, samples_per_cell=samples, seed=seed,
                           max_listed=max_listed)
    except ReportOutputError as exc:
        _fail(str(exc), EXIT_OUTPUT)
    except ReportError as exc:
        _fail(str(exc), EXIT_USAGE)
    click.echo(f"report written to {res.html} ({res.files} images in {res.assets.name}/, "
               f"{res.bytes / 1e6:.2f} MB in all) in {res.seconds:.1f} s")


from .bench.cli import bench  # noqa: E402
from .evaluation.cli import embed, evaluate  # noqa: E402  (registered after the generator's commands)
from .labels.cli import labels  # noqa: E402

main.add_command(embed)
main.add_command(evaluate)
main.add_command(bench)
main.add_command(labels)

if __name__ == "__main__":  # pragma: no cover
    main()
