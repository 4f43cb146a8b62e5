"""The ``embed`` and ``evaluate`` commands (registered on the ``occreid`` group by ``occreid.cli``)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import click
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..console import EXIT_USAGE, borderless_table, fail, fail_with, print_table, progress_display
from ..console import out as _out
from ..cores import usable_cores
from ..datasets import DATASETS, read_dataset
from ..errors import OccreidError
from .descriptor import StripeHistogram, baseline_features
from .embed import (
    CAL_HEIGHT,
    CAL_WIDTH,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelError,
    Preprocess,
    embed_dataset,
    load_features,
    load_model,
    save_features,
)
from .metrics import RANKS
from .output import atomic_write, check_output
from .protocols import TIE_RULES, ProtocolError, Scoring, evaluate_dataset, evaluation_records


def _guarded(work):
    """Run ``work()``; configuration errors exit 2 and output errors exit 3 (``OccreidError.exit_code``),
    each with one sentence."""
    try:
        return work()
    except OccreidError as e:  # a layout, protocol, feature, model or output error: its own exit code
        fail_with(e)
    except ValueError as e:
        fail(str(e), EXIT_USAGE)
    except OSError as e:  # reading an input (dataset image, features, model) failed
        fail(f"{getattr(e, 'filename', None) or ''} {e.strerror or e}".strip(), EXIT_USAGE)


_METRIC_KEYS = [f"rank{k}" for k in RANKS] + ["mAP", "mINP"]
BASELINE_NAME = "baseline (stripe colour histograms)"


def _workers() -> int:
    return min(8, usable_cores())


def _triple(text: str, name: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not three comma-separated numbers", param_hint=name) from None
    if len(vals) != 3:
        raise click.BadParameter(f"{text!r} has {len(vals)} values; give three (R,G,B)", param_hint=name)
    return vals  # type: ignore[return-value]


def _progress(show: bool):
    return progress_display(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            transient=True, show=show)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "-m", "model_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TorchScript (.pt/.pth/.ts) or torch.export (.pt2) model (needs torch), or ONNX (.onnx, needs "
                   "onnxruntime): an (N,3,H,W) image batch -> (N,D) features.")
@click.option("--out", "-o", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output .npz with 'paths' (relative to DATASET, forward slashes) and 'features' (N x D).")
@click.option("--layout", type=click.Choice(list(DATASETS)), default=None,
              help="Dataset layout; detected when omitted.")
@click.option("--height", type=click.IntRange(1), default=CAL_HEIGHT, show_default=True, help="Model input height.")
@click.option("--width", type=click.IntRange(1), default=CAL_WIDTH, show_default=True, help="Model input width.")
@click.option("--mean", default=",".join(map(str, IMAGENET_MEAN)), show_default=True,
              help="Per-channel mean (R,G,B) on [0,1] pixels.")
@click.option("--std", default=",".join(map(str, IMAGENET_STD)), show_default=True, help="Per-channel std (R,G,B).")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Sum the features of each image and its horizontal mirror (CAL's test-time flip).")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Images per forward pass.")
@click.option("--device", default="cpu", show_default=True,
              help="cpu, cuda, cuda:1 ... (ONNX: cuda uses the CUDA provider if present).")
@click.option("--all-images", is_flag=True,
              help="Embed every image of every split, not only the query and gallery images.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def embed(dataset, model_path, out_path, layout, height, width, mean, std, flip, batch_size, device, all_images,
          progress):
    """Features of DATASET's test images (queries and galleries) from your model, for `occreid evaluate`.

    Each image is resized to HEIGHTxWIDTH, scaled to [0,1], normalised with MEAN/STD, embedded with its
    mirror (summed) and L2-normalised: CAL's test pipeline, whose values are the defaults.
    """
    def work():
        out = out_path if out_path.suffix == ".npz" else out_path.with_name(out_path.name + ".npz")  # np.savez's rule
        check_output(out, [dataset], "--out")
        pre = Preprocess(height, width, _triple(mean, "--mean"), _triple(std, "--std"))
        ds = read_dataset(dataset, layout)
        model = load_model(model_path, device)
        model.check(height, width)
        n = len(ds.records) if all_images else len(evaluation_records(ds))
        with _progress(progress) as bar:
            task = bar.add_task("embedding", total=n)
            table = embed_dataset(ds, model, pre, batch_size=batch_size, flip=flip, all_images=all_images,
                                  workers=_workers(), progress=lambda k: bar.advance(task, k))
        if table.features.size == 0 or not np.isfinite(table.features).all():
            raise ModelError(f"the model gave {table.features.shape} features, or non-finite values; nothing written")
        save_features(out, table, dataset)
        return ds, table, out

    ds, table, out = _guarded(work)
    _out.print(f"wrote {len(table.paths)} x {table.features.shape[1]} features of {ds.layout} {dataset} to {out}")


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _drop(a: dict, b: dict) -> dict:
    return {k: (None if a[k] is None or b[k] is None else round(a[k] - b[k], 4)) for k in _METRIC_KEYS}


def _run(dataset: Path, features: Path | None, layout, repeats: int, seed: int, progress: bool,
         allow_other_tree: bool = False, draws: str = "occreid", cal_order: str = "sorted",
         scoring: Scoring | None = None, per_query: list | None = None) -> dict:
    ds = read_dataset(dataset, layout)
    if features is None:
        with _progress(progress) as bar:
            task = bar.add_task(f"baseline {dataset.name}", total=len(evaluation_records(ds)))
            table = baseline_features(ds, StripeHistogram(), flip=True, workers=_workers(),
                                      progress=lambda k: bar.advance(task, k))
        source = BASELINE_NAME
    else:
        table = load_features(features, ds, allow_other_tree)
        source = str(features)
    results = evaluate_dataset(ds, table, single_shot_repeats=repeats, seed=seed, single_shot=draws,
                               cal_order=cal_order, scoring=scoring)
    if per_query is not None:
        for _, m in results:
            per_query.extend({"dataset": str(dataset), **row} for row in m.per_query or [])
    return {
        "root": str(dataset), "layout": ds.layout, "features": source,
        "settings": {s.key: {"setting": s.name, "label": s.label, **m.as_dict()} for s, m in results},
    }


def _row_names(a: Path, b: Path | None) -> tuple[str, str]:
    """Short row labels: folder names, with more of the path where the two would read the same."""
    a, b = a.resolve(), (b.resolve() if b is not None else None)
    for depth in range(1, len(a.parts) + 1):
        na = "/".join(a.parts[-depth:])
        nb = "/".join(b.parts[-depth:]) if b is not None else ""
        if na != nb or b is None:
            return na, nb
    return str(a), str(b)


def _table(title: str, rows: list[tuple[str, dict, str]]) -> Table:
    table = borderless_table(title)
    table.add_column("dataset", justify="left", no_wrap=True)
    for k in RANKS:
        table.add_column(f"R-{k}", justify="right")
    table.add_column("mAP", justify="right")
    table.add_column("mINP", justify="right")
    table.add_column("queries used", justify="right")
    for name, m, style in rows:
        used = m.get("queries_used")
        used_s = "" if used is None else f"{used}/{m['queries']}"
        table.add_row(name, *(_fmt(m[k]) for k in _METRIC_KEYS), used_s, style=style or None)
    return table


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--features", "-f", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Features of DATASET (.npz from `occreid embed` or your own: 'paths', 'features'). "
                   "Without it the weight-free baseline descriptor is computed.")
@click.option("--compare", "-c", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A second dataset (e.g. the occluded twin) evaluated the same way; the drop (DATASET minus "
                   "DATASET2, positive when the second scores lower) is printed.")
@click.option("--features2", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Features of the --compare dataset (required when --features is given).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the numbers as JSON to this file.")
@click.option("--layout", type=click.Choice(list(DATASETS)), default=None,
              help="Layout of both datasets; detected when omitted.")
@click.option("--single-shot-repeats", type=click.IntRange(0), default=10, show_default=True,
              help="PRCC single-shot gallery draws to average (0: multi-shot only).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the PRCC single-shot draws.")
@click.option("--single-shot-draws", "draws", type=click.Choice(["occreid", "cal"]), default="occreid",
              show_default=True,
              help="PRCC single-shot galleries: occreid's draws (seeded by --seed) or exactly CAL's (random.seed(3), "
                   "one choice per identity; see docs/datasets.md).")
@click.option("--cal-order", type=click.Choice(["sorted", "filesystem"]), default="sorted", show_default=True,
              help="With --single-shot-draws cal: visit identities in sorted order, or in the order this machine's "
                   "unsorted glob.glob lists the folders, which is what CAL's loader sees here.")
@click.option("--allow-other-tree", is_flag=True,
              help="Use features recorded as computed on another tree (by default refused: the original's "
                   "features given for the occluded twin would report the original's scores).")
@click.option("--distance", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True,
              help="cosine: negative cosine similarity of L2-normalised features (CAL's); euclidean: squared "
                   "Euclidean distance of the features as given (torchreid's default).")
@click.option("--rerank", is_flag=True,
              help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3), as torchreid and fast-reid "
                   "offer it. Needs about 28 x (queries + gallery)^2 bytes of memory (Market-1501: 11 GB).")
@click.option("--ties", type=click.Choice(list(TIE_RULES)), default="gallery-order", show_default=True,
              help="Exactly tied distances: gallery-order (a stable sort, the same on every machine) or cal "
                   "(CAL's torch.mm distances ranked by NumPy's argsort: CAL's numbers, ties included; needs torch).")
@click.option("--cal-device", default="cpu", show_default=True,
              help="With --ties cal: where torch.mm runs (CAL's test.py runs it on cuda; CPU and GPU may round "
                   "one ulp apart, so use the device CAL ran on).")
@click.option("--per-query", "per_query_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write each query's rank-1 hit, first-match rank, AP and INP, per setting (.csv, or .json).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def evaluate(dataset, features, compare, features2, json_path, layout, single_shot_repeats, seed, draws, cal_order,
             allow_other_tree, distance, rerank, ties, cal_device, per_query_path, progress):
    """CMC (rank-1/5/10/20) and mAP of DATASET per protocol setting, and of its occluded twin with --compare.

    Every published setting of the dataset's declaration (docs/datasets.md): PRCC same-clothes and
    cloth-changing, multi-shot and single-shot (averaged draws); LTCC, VC-Clothes and CCVID general,
    cloth-changing and same-clothes; DeepChange and LaST val and test; Market-1501, DukeMTMC-reID,
    MSMT17, MARS and Celeb-reID general; Occluded-DukeMTMC, Occluded-REID, Partial-REID and
    P-DukeMTMC-reID occluded queries against whole-body galleries. MARS and CCVID are evaluated per
    tracklet (frame features averaged). Distance: negative cosine similarity of L2-normalised
    features (--distance, --rerank); mINP as fast-reid computes it. Queries without a valid match
    are skipped and counted ('queries used'). Exit codes: 0 done, 2 configuration error, 3 output
    not writable.
    """
    if compare is None and features2 is not None:
        raise click.UsageError("--features2 needs --compare")
    if compare is not None and (features is None) != (features2 is None):
        raise click.UsageError("give features for both datasets (--features and --features2) or for neither "
                               "(the baseline descriptor is then computed for both)")
    inputs = [dataset] + ([compare] if compare is not None else [])
    per_query: list | None = [] if per_query_path is not None else None

    def work():
        for path, what in ((json_path, "--json"), (per_query_path, "--per-query")):
            if path is not None:
                check_output(path, inputs, what)
        scoring = Scoring(distance, ties, rerank, per_query is not None, cal_device)
        first = _run(dataset, features, layout, single_shot_repeats, seed, progress, allow_other_tree, draws,
                     cal_order, scoring, per_query)
        second = _run(compare, features2, layout, single_shot_repeats, seed, progress, allow_other_tree, draws,
                      cal_order, scoring, per_query) if compare else None
        if second is not None and second["layout"] != first["layout"]:
            raise ProtocolError(f"{compare} is a {second['layout']} dataset but {dataset} is {first['layout']}; "
                                "--compare needs the same layout")
        return first, second

    first, second = _guarded(work)
    report: dict = {"dataset": first}
    _out.print(Text.assemble((first["layout"].upper(), "bold"), f" {dataset}"), f"features: {first['features']}",
               sep="\n  ")
    if second is not None:
        _out.print(f"compared with {compare}", f"features: {second['features']}", sep="\n  ")
        report["compare"] = second
        report["drop"] = {}
    name1, name2 = _row_names(dataset, compare)
    for key, m in first["settings"].items():
        rows = [(name1, m, "")]
        if second is not None:
            m2 = second["settings"].get(key)
            if m2 is None:
                continue
            drop = _drop(m, m2)
            report["drop"][key] = drop
            rows += [(name2, m2, ""), ("drop", {**drop, "queries_used": None}, "bold")]
        print_table(_table(f"{first['layout'].upper()} {m['label']}", rows))
    skipped = {k: m["queries_skipped"] for k, m in first["settings"].items() if m["queries_skipped"]}
    if skipped:
        _out.print("queries without a valid match (skipped, as in CAL): "
                   + ", ".join(f"{k}: {v}" for k, v in skipped.items()))
    if json_path is not None:
        text = json.dumps(report, indent=2, allow_nan=False) + "\n"
        _guarded(lambda: atomic_write(json_path, lambda fh: fh.write(text.encode()), "--json"))
        _out.print(f"wrote {json_path}")
    if per_query_path is not None:
        data = _per_query_bytes(per_query, per_query_path)
        _guarded(lambda: atomic_write(per_query_path, lambda fh: fh.write(data), "--per-query"))
        _out.print(f"wrote {len(per_query)} per-query rows to {per_query_path}")


PER_QUERY_FIELDS = ("dataset", "setting", "query", "pid", "valid", "rank1", "first_match_rank", "ap", "inp")


def _per_query_bytes(rows: list[dict], path: Path) -> bytes:
    """The per-query rows as JSON (a ``.json`` path) or CSV (anything else); AP and INP as fractions."""
    if path.suffix.lower() == ".json":
        return (json.dumps(rows, indent=1, allow_nan=False) + "\n").encode()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PER_QUERY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in PER_QUERY_FIELDS})
    return buf.getvalue().encode()
