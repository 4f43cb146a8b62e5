"""The ``occreid`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from . import __version__
from .layout import LAYOUTS, LayoutError
from .occlusion import PART_CHOICES, OcclusionParams
from .runner import GenerateConfig, RunError, default_workers, generate as run_generate

err = Console(stderr=True)
out = Console()


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


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f} img/s" if task.speed else "", style="progress.data.speed")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="occreid")
def main() -> None:
    """occreid: make the occluded twin of a person re-ID dataset (the Occluded-PRCC / Occluded-LTCC
    procedure), offline, and evaluate re-ID models on it."""


def summary_table(summary: dict, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    cols = ["split", "images", "ids", "cameras", "clothes", "occluded", "part_absent", "no_person", "error"]
    for c in cols:
        table.add_column(c, justify="left" if c == "split" else "right")
    splits = [s for s in summary if s != "all"] + ["all"]
    for s in splits:
        row = summary[s]
        style = "bold" if s == "all" else None
        table.add_row(s, *(str(row[c]) for c in cols[1:]), style=style)
    return table


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output root: the same tree, names and sizes as DATASET, occluded. Must lie outside DATASET.")
@click.option("--layout", type=click.Choice(list(LAYOUTS)), default=None,
              help="Dataset layout; detected when omitted. 'folder' takes any tree of images (no labels).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Run seed. Each image's draws depend only on (seed, its relative path).")
@click.option("--workers", "-j", type=click.IntRange(1), default=default_workers(), show_default="the usable CPU cores",
              help="Worker processes, one parser each. Outputs do not depend on it.")
@click.option("--parser", default="mediapipe", show_default=True,
              help="Body-part parser: 'mediapipe' (embedded, offline), 'schp' (needs --checkpoint and torch), "
                   "or 'package.module:Class' for your own.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SCHP Pascal-Person-Part checkpoint (exp-schp-201908270938-pascal-person-part.pth).")
@click.option("--device", default=None, help="SCHP device: cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="SCHP images per forward pass.")
@click.option("--part-choice", type=click.Choice(PART_CHOICES), default="present", show_default=True,
              help="'present': one of the parts present in the image, so every person is occluded. "
                   "'paper': uniform over all six parts as in the paper; an absent part leaves the image as is.")
@click.option("--pool-levels", type=int, default=4, show_default=True, help="Successive average pools (the paper: 4).")
@click.option("--pool-kernel", type=int, default=2, show_default=True, help="Pool kernel and stride (the paper: 2).")
@click.option("--threshold", type=float, default=0.0, show_default=True,
              help="A coarse cell is occluded when its pooled mean exceeds this; 0 = any overlap.")
@click.option("--fill", type=int, default=0, show_default=True, help="Occluder grey level, 0 (black) to 255.")
@click.option("--jpeg-quality", type=_JpegQuality(), default="keep", show_default=True,
              help="'keep' re-encodes JPEGs with their own quantisation tables (pixels off the occluder unchanged).")
@click.option("--save-parts", is_flag=True, help="Save part maps as PNGs under OUT/_occreid/parts (reused by later runs).")
@click.option("--save-masks", is_flag=True, help="Save occluder masks as PNGs under OUT/_occreid/masks.")
@click.option("--parts-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Reuse the part maps saved by another run (its output root).")
@click.option("--overwrite", is_flag=True, help="Replace an output made with other parameters.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def generate(dataset, output, layout, seed, workers, parser, checkpoint, device, batch_size, part_choice,
             pool_levels, pool_kernel, threshold, fill, jpeg_quality, save_parts, save_masks, parts_from,
             overwrite, progress):
    """Write the occluded twin of DATASET to --out.

    Each person gets a black, blocky occluder over one body part: a parser labels the six
    Pascal-Person-Part parts, one part is drawn, its mask is coarsened by repeated average
    pooling and fused into the image. A manifest (OUT/_occreid/manifest.csv) has one row per
    image. Rerunning the same command resumes; the exit code is 1 when any image was an error.

    \b
    Examples:
      occreid generate /data/prcc --out /data/occ_prcc
      occreid generate /data/LTCC_ReID --out /data/Occ_LTCC --seed 7 --workers 8
      occreid generate ./crops --layout folder --out ./crops_occ
    """
    try:
        occlusion = OcclusionParams(part_choice=part_choice, pool_levels=pool_levels, pool_kernel=pool_kernel,
                                    threshold=threshold, fill=fill)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    options = {}
    if parser == "schp":
        if checkpoint is None:
            raise click.UsageError("--parser schp needs --checkpoint (SCHP's Pascal-Person-Part .pth file).")
        options = {"checkpoint": str(checkpoint), "device": device}
        if batch_size:
            options["batch_size"] = batch_size
    elif checkpoint or device or batch_size:
        raise click.UsageError("--checkpoint, --device and --batch-size apply to --parser schp only.")
    cfg = GenerateConfig(
        input=dataset, output=output, layout=layout, seed=seed, workers=workers, parser=parser,
        parser_options=options, occlusion=occlusion, jpeg_quality=jpeg_quality, save_parts=save_parts,
        save_masks=save_masks, parts_from=parts_from, overwrite=overwrite,
    )
    bar = Progress(TextColumn("[bold]occluding"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err, disable=not progress)
    task = bar.add_task("occluding", total=None)

    def on_progress(total=None, advance=0):  # the bar appears once the checks have passed
        if total is not None:
            bar.update(task, total=total)
            bar.start()
        bar.advance(task, advance)

    try:
        result = run_generate(cfg, progress=on_progress)
    except (RunError, LayoutError) as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        sys.exit(2)
    finally:
        bar.stop()
    for w in result.warnings:
        err.print(Panel(w, title="WARNING: labels would be misread", border_style="bold red"))
    out.print(summary_table(result.summary, f"occreid generate: {dataset} -> {output}"))
    notes = [f"other files copied unchanged: {result.copied}"]
    if result.skipped:
        notes.append(f"resumed: {result.skipped} images were already done")
    notes.append(f"manifest: {output / '_occreid' / 'manifest.csv'}")
    for n in notes:
        out.print(n)
    if result.errors:
        err.print(f"[bold red]{result.errors} image(s) could not be used[/]; their reasons are in the manifest (status 'error').")
        sys.exit(1)


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
    from .video import crops_from_video

    files = crops_from_video(video, output, every=every, min_height=min_height)
    out.print(f"{len(files)} pedestrian crops written to {output}")


from .evaluation.cli import embed, evaluate  # noqa: E402  (registered after the generator's commands)

main.add_command(embed)
main.add_command(evaluate)

if __name__ == "__main__":  # pragma: no cover
    main()
