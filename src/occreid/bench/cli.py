"""The ``bench`` command: a re-ID model's robustness to occlusion, body part by body part.

``occreid bench DATASET --parts-from RUN --out DIR`` runs the grid (``run.py``) and writes
``DIR/bench.json``, ``DIR/bench.csv`` and ``DIR/index.html``; ``occreid bench --compare a.json b.json``
prints benches side by side, one line per model."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..console import EXIT_OUTPUT, EXIT_USAGE, fail_with, progress_callback, progress_display
from ..cores import usable_cores
from ..datasets import DATASETS
from ..errors import OccreidError
from ..evaluation.embed import CAL_HEIGHT, CAL_WIDTH, IMAGENET_MEAN, IMAGENET_STD, Preprocess
from .features import BaselineEmbedder, ModelEmbedder
from .grid import (
    DEFAULT_PROTOCOL,
    DEFAULT_SEVERITIES,
    GRID_PARTS,
    PROTOCOLS,
    BenchError,
    parse_parts,
    parse_severities,
)
from .page import write_page
from .run import BenchConfig, run_bench
from .scoring import METRICS
from .store import write_atomic
from .summary import CSV_FIELDS, csv_rows, normalised

_err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
_out = Console(width=None if sys.stdout.isatty() else 120)


def _fail(message: str, code: int = EXIT_USAGE):
    _err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    sys.exit(code)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def write_outputs(report: dict, out: Path, json_path: Path | None = None) -> None:
    """``bench.json``, ``bench.csv`` and ``index.html`` inside ``out``; with ``json_path`` a copy of the JSON there."""
    text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    write_atomic(out / "bench.json", text)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    write_atomic(out / "bench.csv", buf.getvalue())
    write_page(report, out)
    if json_path is not None:
        write_atomic(json_path, text)


def _load(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path} cannot be read as a bench JSON ({exc}).") from None
    if not isinstance(report, dict) or "occreid_bench" not in report or "summary" not in report:
        raise BenchError(f"{path} is not a bench JSON (written by occreid bench).")
    return report


def compare_table(paths: list[Path], baseline: Path | None = None) -> list[Table]:
    """One line per bench (model, clean and mRD per metric, nRD against ``baseline`` or the baseline's
    bench among them), then the mAP drop per part, one column per bench."""
    reports = [_load(p) for p in paths]
    base = _load(baseline) if baseline else next((r for r in reports if r["model_key"].startswith("baseline:")), None)
    grids = {json.dumps([r["layout"], r["grid"], r["protocol"]]) for r in reports}
    if len(grids) > 1:
        raise BenchError("the benches differ in dataset layout, grid or protocol; compare benches of the same grid.")
    table = Table(title="occreid bench: mean relative drop mRD (%), lower is more robust", title_justify="left")
    for col in ["bench", "model", "clean rank-1", "clean mAP", "mRD rank-1", "mRD mAP", "mRD mINP", "nRD mAP"]:
        table.add_column(col, justify="left" if col in ("bench", "model") else "right", no_wrap=col != "bench")
    parts = Table(title="relative mAP drop (%) per part, mean over severities and settings", title_justify="left")
    parts.add_column("part")
    for i, (path, r) in enumerate(zip(paths, reports)):
        s = r["summary"]
        clean = {m: _avg([v[m] for v in r["clean"].values()]) for m in METRICS}
        nrd = normalised(r, base) if base is not None else None
        model = "baseline" if r["model_key"].startswith("baseline:") else Path(r["model"]).name
        table.add_row(f"#{i + 1} {Path(path).parent.name}/{Path(path).name}", model, _fmt(clean["rank1"]),
                      _fmt(clean["mAP"]),
                      *(_fmt(s["mRD"]["all"][m]) for m in METRICS), _fmt(nrd["mAP"]) if nrd else "-")
        parts.add_column(f"#{i + 1}", justify="right")
    for p in reports[0]["grid"]["parts"]:
        parts.add_row(p, *(_fmt(_avg([v[p]["mAP"] for v in r["summary"]["per_part"].values()])) for r in reports))
    return [table, parts]


def _avg(values):
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _triple(text: str, name: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise BenchError(f"{name} {text!r} is not three comma-separated numbers.") from None
    if len(vals) != 3:
        raise BenchError(f"{name} {text!r} needs three values (R,G,B).")
    return vals  # type: ignore[return-value]


@click.command()
@click.argument("args", nargs=-1, type=click.Path(path_type=Path), metavar="DATASET | --compare A.json B.json ...")
@click.option("--parts-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="An occreid output made with --save-parts on DATASET: its part maps make every cell (no parser).")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The bench folder: bench.json, bench.csv, index.html and the resumable store bench.sqlite.")
@click.option("--model", "-m", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="TorchScript / torch.export / ONNX model, as for occreid embed [default: the "
                                 "built-in colour-histogram baseline].")
@click.option("--layout", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset layout; detected when omitted.")
@click.option("--parts", default="all", show_default=True,
              help=f"Grid rows, comma-separated, among: {', '.join(GRID_PARTS)}.")
@click.option("--severities", default=DEFAULT_SEVERITIES, show_default=True,
              help="Bands of the share of the person hidden, in percent, comma-separated.")
@click.option("--seeds", type=click.IntRange(1, 100), default=3, show_default=True, help="Seeds per cell (0..N-1).")
@click.option("--occlude", "protocol", type=click.Choice(PROTOCOLS), default=DEFAULT_PROTOCOL, show_default=True,
              help="'query': occluded queries against the whole-body gallery (Occluded-Duke); 'both': queries and "
                   "gallery occluded (Occluded-PRCC / LTCC).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the bench JSON to this file.")
@click.option("--compare", "compare", is_flag=True, help="Compare bench JSON files given as arguments.")
@click.option("--baseline-json", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The built-in baseline's bench JSON on the same grid: adds nRD = 100 * mRD / mRD(baseline).")
@click.option("--height", type=click.IntRange(1), default=CAL_HEIGHT, show_default=True, help="Model input height.")
@click.option("--width", type=click.IntRange(1), default=CAL_WIDTH, show_default=True, help="Model input width.")
@click.option("--mean", default=",".join(map(str, IMAGENET_MEAN)), show_default=True, help="Model input mean (R,G,B).")
@click.option("--std", default=",".join(map(str, IMAGENET_STD)), show_default=True, help="Model input std (R,G,B).")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Images per forward pass.")
@click.option("--device", default="cpu", show_default=True, help="Model device: cpu, cuda, cuda:1 ...")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show cells done and time left.")
def bench(args, parts_from, out, model_path, layout, parts, severities, seeds, protocol, json_path, compare,
          baseline_json, height, width, mean, std, batch_size, device, progress):
    """How a re-ID model's accuracy falls as each body part is hidden, from a little to most of the person.

    The grid is body part (any, head, torso, upper/lower arms, upper/lower legs) x severity (share of
    the person hidden) x seeds; each cell is the occluded twin made from RUN's saved part maps, embedded
    (features cached by image bytes) and scored with the dataset's settings: rank-1, mAP, mINP. The
    clean dataset is the reference row; mRD, the mean relative drop, sums the grid up (docs/bench.md).
    Rerunning the same command resumes. Exit codes: 0 done, 2 configuration, 3 output not writable, 130
    interrupted (rerun to resume).

    \b
    Examples:
      occreid generate /data/LTCC_ReID --out /data/ltcc_parts --save-parts
      occreid bench /data/LTCC_ReID --parts-from /data/ltcc_parts --out bench/baseline
      occreid bench /data/LTCC_ReID --parts-from /data/ltcc_parts --out bench/cal --model cal.ts
      occreid bench --compare bench/baseline/bench.json bench/cal/bench.json
    """
    try:
        if compare:
            if len(args) < 1:
                raise BenchError("--compare needs bench JSON files as arguments.")
            for table in compare_table(list(args), baseline_json):
                _out.print(table)
            return
        if len(args) != 1:
            raise BenchError("give one DATASET (or --compare with bench JSON files).")
        if parts_from is None or out is None:
            raise BenchError("a bench needs --parts-from RUN (saved part maps) and --out DIR.")
        dataset = args[0]
        if not dataset.is_dir():
            raise BenchError(f"DATASET {dataset} is not a folder.")
        cfg = BenchConfig(dataset=dataset, parts_from=parts_from, out=out, parts=parse_parts(parts),
                          severities=parse_severities(severities), seeds=tuple(range(seeds)), protocol=protocol,
                          layout=layout)
        workers = min(8, usable_cores())
        if model_path is None:
            embedder = BaselineEmbedder(workers)
        else:
            pre = Preprocess(height, width, _triple(mean, "--mean"), _triple(std, "--std"))
            embedder = ModelEmbedder(model_path, pre, batch_size, True, device, workers)
        bar = progress_display(TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                               TextColumn("eta"), TimeRemainingColumn(), console=_err, show=progress, unit="cells",
                               transient=True)
        on_progress = progress_callback(bar, bar.add_task("cells", total=None))
        try:
            result = run_bench(cfg, embedder, progress=on_progress)
        finally:
            bar.stop()
        write_outputs(result.report, out, json_path)
        if baseline_json is not None:
            nrd = normalised(result.report, _load(baseline_json))
            _out.print(f"nRD against {baseline_json}: " + ("not comparable (other grid)" if nrd is None else
                                                            ", ".join(f"{k} {_fmt(v)}" for k, v in nrd.items())))
    except OSError as exc:
        _fail(f"cannot write the bench under {out}: {exc.strerror or exc}; fix the output and rerun to resume.",
              EXIT_OUTPUT)
    except OccreidError as exc:  # a bench, layout, protocol, feature or model error (exit 2)
        fail_with(exc)
    except ValueError as exc:
        _fail(str(exc).rstrip(".") + ".", EXIT_USAGE)
    s = result.report["summary"]
    _out.print(f"[bold]occreid bench[/bold] {dataset} ({result.report['layout']}), model: {embedder.name}")
    _out.print(f"cells: {result.computed} scored now, {result.kept} kept from before; {result.embedded} images "
               f"embedded; {result.seconds:.1f} s")
    for key, v in s["mRD"]["settings"].items():
        clean = result.report["clean"][key]
        _out.print(f"  {key}: clean rank-1 {_fmt(clean['rank1'])} mAP {_fmt(clean['mAP'])} mINP {_fmt(clean['mINP'])}"
                   f"; mRD rank-1 {_fmt(v['rank1'])} mAP {_fmt(v['mAP'])} mINP {_fmt(v['mINP'])} %")
    _out.print(f"mRD (mAP, all settings): {_fmt(s['headline'])} %  ->  {out / 'index.html'}")
