"""``occreid report``: the click command (registered on the ``occreid`` group in ``cli.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from .data import ReportError
from .page import write_report


class _Refused(click.ClickException):
    """A refusal the user can fix (damaged manifest, bad destination): one sentence, exit code 2."""

    exit_code = 2


@click.command()
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
    (with the published samples' medians), sample grids (original | part map | occluded) per split
    and body part, and the images with no person or an error, with their reasons.

    \b
    Examples:
      occreid report /data/occ_prcc --html report/index.html
      occreid report /data/occ_prcc /data/occ_prcc_rect --html compare/index.html
    """
    try:
        res = write_report([out] + ([out2] if out2 else []), html, samples_per_cell=samples, seed=seed,
                           max_listed=max_listed)
    except ReportError as exc:
        raise _Refused(str(exc)) from None
    click.echo(f"report written to {res.html} ({res.files} images in {res.assets.name}/, "
               f"{res.bytes / 1e6:.2f} MB in all) in {res.seconds:.1f} s")
