"""The ``occreid`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__, console
from .bench.cli import bench
from .cli_generate import generate, merge
from .console import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_USAGE,
    fail,
    fail_with,
    out,
    print_table,
    split_label,
)
from .console import borderless_table as _table
from .errors import OccreidError
from .evaluation.cli import embed, evaluate
from .labels.cli import labels
from .stopping import TERMINATED_LINE, Terminated

#: The shared error helper under its older name (``fail`` in occreid.console).
_fail = fail


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
        """The one place an ``OccreidError`` becomes its ``error:`` line and exit code (errors.py)."""
        try:
            return super().invoke(ctx)
        except OccreidError as exc:
            fail_with(exc)
        except KeyboardInterrupt as exc:  # SIGTERM (Terminated) too: 143
            if isinstance(exc, Terminated):
                fail(TERMINATED_LINE, EXIT_TERMINATED)
            fail("interrupted; rerun the same command to resume.", EXIT_INTERRUPTED)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="occreid")
@click.option("--debug", is_flag=True, help="On an error, show the Python traceback before its line (maintainers).")
def main(debug: bool) -> None:
    """occreid: make the occluded twin of a person re-ID dataset (the Occluded-PRCC / Occluded-LTCC
    procedure), offline, and evaluate re-ID models on it."""
    console.DEBUG = debug


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

    try:
        files = crops_from_video(video, output, every=every, min_height=min_height)
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
    except FileNotFoundError as exc:
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
    from .report import write_report

    res = write_report([out] + ([out2] if out2 else []), html, samples_per_cell=samples, seed=seed,
                       max_listed=max_listed)  # a ReportError (or ReportOutputError, exit 3): cli._Main
    click.echo(f"report written to {res.html} ({res.files} images in {res.assets.name}/, "
               f"{res.bytes / 1e6:.2f} MB in all) in {res.seconds:.1f} s")


main.add_command(generate)
main.add_command(merge)
main.add_command(embed)
main.add_command(evaluate)
main.add_command(bench)
main.add_command(labels)

if __name__ == "__main__":  # pragma: no cover
    main()
