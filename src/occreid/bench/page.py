"""The bench's page, in the report's style: per setting a part x severity heat map of the relative
drop (numbers in every cell), rank-1 and mAP curves per part (matplotlib SVG, as ``report/plots.py``
draws) with their numbers in a table beside them, and the summary. Written inside the bench folder:
``index.html`` and ``bench_assets/*.svg``, each through a temporary file and a rename."""

from __future__ import annotations

import io
from pathlib import Path

import jinja2

from ..report.data import colour
from .grid import ANY
from .scoring import METRICS
from .store import write_atomic

ASSETS = "bench_assets"


def _heat(value: float | None, top: float) -> str:
    """White (no drop) to red (the grid's largest drop); blue for a gain."""
    if value is None:
        return "#f4f4f4"
    t = max(-1.0, min(1.0, value / top)) if top else 0.0
    if t >= 0:
        return f"rgb(255,{int(255 - 150 * t)},{int(255 - 170 * t)})"
    return f"rgb({int(255 + 120 * t)},{int(255 + 60 * t)},255)"


def _curves(report: dict, setting: str, assets: Path, index: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "occreid-bench", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    sevs = report["grid"]["severities"]
    cells = [c for c in report["summary"]["cells"] if c["setting"] == setting]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), layout="constrained")
    for ax, metric, title in zip(axes, ("rank1", "mAP"), ("Rank-1 (%)", "mAP (%)")):
        x = list(range(len(sevs)))
        for part in report["grid"]["parts"]:
            mean = [next((c[f"{metric}_mean"] for c in cells if c["part"] == part and c["severity"] == s), None)
                    for s in sevs]
            std = [next((c[f"{metric}_std"] for c in cells if c["part"] == part and c["severity"] == s), None)
                   for s in sevs]
            style = {"color": "black", "linewidth": 2.2} if part == ANY else {"color": colour(part), "linewidth": 1.4}
            ys = [float("nan") if v is None else v for v in mean]
            ax.errorbar(x, ys, yerr=[0 if v is None else v for v in std], marker="o", markersize=3, capsize=2,
                        label=part.replace("_", " "), **style)
        clean = report["clean"][setting][metric]
        if clean is not None:
            ax.axhline(clean, color="0.4", linestyle="--", linewidth=1, label=f"clean {clean:.1f}")
        ax.set_xticks(list(range(len(sevs))), [f"{s} %" for s in sevs])
        ax.set_xlabel("share of the person hidden")
        ax.set_title(title)
    axes[1].legend(fontsize=7, frameon=False, loc="upper right")
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    w, h = fig.get_size_inches() * 72
    plt.close(fig)
    name = f"curves_{index}.svg"
    write_atomic(assets / name, buf.getvalue())
    return {"src": f"{ASSETS}/{name}", "w": int(w * 1.333), "h": int(h * 1.333)}


def _setting_view(report: dict, setting: str, label: str, assets: Path, index: int) -> dict:
    sevs, parts = report["grid"]["severities"], report["grid"]["parts"]
    cells = {(c["part"], c["severity"]): c for c in report["summary"]["cells"] if c["setting"] == setting}
    drops = [c["mAP_drop"] for c in cells.values() if c["mAP_drop"] is not None]
    top = max([abs(d) for d in drops] + [1.0])
    heat = [{"part": p.replace("_", " "), "cells": [
        {"text": "-" if cells[(p, s)]["mAP_drop"] is None else f"{cells[(p, s)]['mAP_drop']:.1f}",
         "share": cells[(p, s)]["occluded_share"], "bg": _heat(cells[(p, s)]["mAP_drop"], top)} for s in sevs],
        "mean": report["summary"]["per_part"][setting][p]["mAP"]} for p in parts]
    numbers = [{"part": p.replace("_", " "), "severity": s, **cells[(p, s)]} for p in parts for s in sevs]
    return {"key": setting, "label": label, "clean": report["clean"][setting], "heat": heat, "numbers": numbers,
            "per_severity": report["summary"]["per_severity"][setting], "mrd": report["summary"]["mRD"]["settings"][
                setting], "curves": _curves(report, setting, assets, index)}


def write_page(report: dict, out: Path) -> Path:
    """``out/index.html`` and its SVG curves under ``out/bench_assets``; the page's path."""
    assets = Path(out) / ASSETS
    if assets.is_symlink():
        assets.unlink()
    assets.mkdir(exist_ok=True)
    for old in assets.glob("curves_*.svg"):  # an earlier page's curves (another grid) would linger
        old.unlink()
    scored = {k: label for k, label in report["settings"].items() if report["clean"][k]["mAP"] is not None}
    views = [_setting_view(report, k, label, assets, i) for i, (k, label) in enumerate(scored.items())]
    unscored = [label for k, label in report["settings"].items() if k not in scored]
    env = jinja2.Environment(loader=jinja2.PackageLoader("occreid.bench", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    page = env.get_template("bench.html.j2").render(report=report, views=views, unscored=unscored, metrics=METRICS,
                                                     title=Path(report["dataset"]).name)
    path = Path(out) / "index.html"
    write_atomic(path, page)
    return path
