"""The ``occreid labels`` command (registered on ``occreid.cli.main``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..console import EXIT_OUTPUT, EXIT_UNUSABLE, fail_with
from ..writer import OutputError
from . import formats as F
from .writer import KP_DIR, MASKS_FORMATS, LabelsConfig, LabelsError, write_labels


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "output", required=True, type=click.Path(path_type=Path),
              help="Folder that receives masks/ and external_annotation/ (the dataset folder itself, or the twin, "
                   "is where BPBReID and KPR look).")
@click.option("--layout", default=None,
              help="The layout of DATASET when it is an original dataset (default: detected).")
@click.option("--parts-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A generate output whose saved part maps (--save-parts) give the parts.")
@click.option("--parser", default="mediapipe", show_default=True,
              help="Parser for images without a saved part map (a registered name or package.module:Class).")
@click.option("--masks/--no-masks", default=True, show_default=True, help="Write BPBReID part fields.")
@click.option("--keypoints/--no-keypoints", default=True, show_default=True, help="Write KPR keypoint prompts.")
@click.option("--masks-format", type=click.Choice(list(MASKS_FORMATS)), default="pifpaf", show_default=True,
              help="pifpaf: 36 PifPaf-style fields, for BPBReID's and KPR's configs as they are (masks.dir pifpaf, "
                   "preprocess five_v, eight...); isp_6_parts: background + 5 parts, one-hot.")
@click.option("--masks-dir", default=None,
              help="Folder under masks/ (BPBReID's masks_dir; default: the format's name).")
@click.option("--masks-suffix", default=F.MASKS_SUFFIX, show_default=True,
              help="Appended to the image's stem (the suffix of the masks_dirs entry BPBReID reads).")
@click.option("--kp-dir", default=KP_DIR, show_default=True,
              help="Folder under external_annotation/ (KPR's model.kpr.keypoints.kp_dir).")
@click.option("--paths", type=click.Choice(F.PATH_RULES), default="bpbreid", show_default=True,
              help="bpbreid: <parent folder>/<stem> as their loaders compute it (Occluded-REID: <split folder>/<stem>, "
                   "as their OccludedReID does); mirror: the whole relative folder.")
@click.option("--stride", type=int, default=4, show_default=True,
              help="Part fields at 1/stride of the image's size (area average); 1 keeps every pixel.")
@click.option("--negatives/--no-negatives", default=True, show_default=True,
              help="Twins made with --preset person: the pasted person's keypoints as negative prompts.")
def labels(dataset, output, layout, parts_from, parser, masks, keypoints, masks_format, masks_dir, masks_suffix, kp_dir,
           paths, stride, negatives):
    """Part labels and keypoints for BPBReID and KPR, for DATASET (an original dataset or the occluded
    twin generate made): BPBReID part fields (PifPaf-style or isp_6_parts) under OUT/masks/<masks-dir>/
    and KPR keypoint prompts under OUT/external_annotation/<kp-dir>/. For a twin they are the truth
    after occlusion (parts and keypoints under the occluder removed; a pasted person's keypoints as
    negative prompts); it needs the occluder masks (generate --save-masks). Formats and mappings:
    docs/labels.md."""
    cfg = LabelsConfig(dataset=dataset, output=output, layout=layout, parts_from=parts_from, parser=parser,
                       masks=masks, keypoints=keypoints, masks_format=masks_format, masks_dir=masks_dir,
                       masks_suffix=masks_suffix, kp_dir=kp_dir, paths=paths, stride=stride, negatives=negatives)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("labels"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())
    task = bar.add_task("labels", total=None)

    def progress(total=None, advance=0):
        if total is not None:
            bar.update(task, total=total)
        bar.advance(task, advance)

    try:
        with bar:
            result = write_labels(cfg, progress=progress)
    except LabelsError as exc:
        fail_with(exc)
    except OutputError as exc:
        _fail(f"{exc.strerror or exc}; free space or fix permissions, then rerun the same command.", EXIT_OUTPUT)
    where = masks_dir or MASKS_FORMATS[masks_format]
    click.echo(f"labels for {result.images} images: {result.masks} part-field files under {output}/masks/{where}, "
               f"{result.keypoint_files} keypoint files ({result.with_skeleton} with a skeleton) under "
               f"{output}/external_annotation/{kp_dir}")
    if result.occluded:
        click.echo(f"{result.occluded} occluded images: parts and keypoints under the occluder removed; "
                   f"{result.negatives} pasted people as negative prompts ({result.negatives_unknown} not placeable)")
    for relpath, reason in result.failed[:10]:
        click.echo(f"failed: {relpath}: {reason}", err=True)
    if result.failed:
        click.echo(f"{len(result.failed)} images could not be labelled (listed in {output}/_occreid/labels.json)",
                   err=True)
        sys.exit(EXIT_UNUSABLE)
