"""The report's plots (SVG, matplotlib's Agg backend): the parts covered, the occluded image
fraction and the covered person fraction, one series per run, with the published samples' medians
marked (measured on the released Occluded-PRCC and Occluded-LTCC samples: docs/paper.md)."""

from __future__ import annotations

import numpy as np

from ..parts import PARTS
from ..status import Status
from .data import Run, colour, pretty
from .thumbnails import Assets

#: Median occluded image fraction (%) of the published samples (docs/paper.md, "What the released
#: samples look like").
REFERENCE_MEDIANS = {"Occ-PRCC samples": 13.5, "Occ-LTCC samples": 22.1}


def _parts_covered(plt, runs: list[Run], assets: Assets, parts: list[str]) -> dict:
    """Bars: share of each run's occluded images whose occluder covers each part."""
    fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
    x = np.arange(len(parts))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        covered = run.covered()
        total = max(1, run.summary["all"]["occluded"])
        vals = [100.0 * covered.get(p, 0) / total for p in parts]
        ax.bar(x + (i - (len(runs) - 1) / 2) * width, vals, width, color=[colour(p) for p in parts],
               edgecolor=run.colour, linewidth=1.2, hatch="///" if i else None, alpha=0.55 if i else 0.9,
               label=run.name)
    body = [p for p in parts if p in PARTS]
    if body:
        ax.axhline(100 / len(body), color="0.4", linestyle=":", linewidth=1, label=f"uniform over {len(body)} parts")
    ax.set_xticks(x, [pretty(p).replace("rectangle", "rect.").replace(" ", "\n", 1) for p in parts],
                  fontsize=8 if len(parts) <= 6 else 7)
    ax.set_ylabel("% of occluded images")
    ax.set_title("Parts covered")
    ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.25)
    ax.legend(fontsize=7, frameon=False, loc="upper center", ncol=len(runs) + 1)
    plot = {"title": "Parts covered", **assets.svg("parts_covered", fig),
            "caption": "Share of each run's occluded images whose occluder covers each part "
                       "(an occluder over two parts counts for both)."}
    plt.close(fig)
    return plot


def _fraction(plt, runs: list[Run], assets: Assets, key: str, title: str, refs: bool) -> dict:
    """Histogram of a manifest fraction over occluded images, each run's median marked, and with
    ``refs`` the published samples' medians."""
    fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
    series = [(run, np.array([getattr(r, key) * 100 for r in run.rows
                                 if r.status == Status.OCCLUDED and getattr(r, key) is not None]))
              for run in runs]
    top = max([float(v.max()) for _, v in series if v.size] + [60.0 if refs else 100.0])
    bins = np.linspace(0, min(100.0, np.ceil(top / 5) * 5), 41)
    for run, v in series:
        if not v.size:
            continue
        w = np.full(v.size, 100.0 / v.size)
        ax.hist(v, bins=bins, weights=w, histtype="stepfilled", alpha=0.22, color=run.colour)
        ax.hist(v, bins=bins, weights=w, histtype="step", linewidth=1.3, color=run.colour)
        med = float(np.median(v))
        ax.axvline(med, color=run.colour, linewidth=1.8, label=f"{run.name} median {med:.1f}%")
    if refs:
        for (name, med), style in zip(REFERENCE_MEDIANS.items(), ("--", "-."), strict=True):
            ax.axvline(med, color="black", linestyle=style, linewidth=1.2, label=f"{name} median {med:.1f}%")
    ax.set_xlim(0, bins[-1])
    ax.set_xlabel(f"{title.lower()} (%)")
    ax.set_ylabel("% of occluded images")
    ax.set_title(title)
    ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * (1.15 + 0.1 * (len(runs) + 2 * refs)))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    if not any(v.size for _, v in series):
        ax.text(0.5, 0.5, "no occluded images", transform=ax.transAxes, ha="center", color="0.4")
    caption = ("Over occluded images. Black lines: medians measured on the published Occ-PRCC and "
               "Occ-LTCC samples (occreid's docs/paper.md; those samples include their few unoccluded frames)."
               if refs else "Share of the person's pixels under the occluder, over occluded images. "
               "The published samples give no reference for this.")
    plot = {"title": title, **assets.svg(key, fig), "caption": caption}
    plt.close(fig)
    return plot


def plots(runs: list[Run], assets: Assets, parts: list[str]) -> list[dict]:
    """The three plots (``src``, ``w``, ``h``, ``title``, ``caption`` each), written to the assets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "occreid-report", "font.size": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return [
        _parts_covered(plt, runs, assets, parts),
        _fraction(plt, runs, assets, "image_fraction", "Occluded image fraction", refs=True),
        _fraction(plt, runs, assets, "person_fraction", "Covered person fraction", refs=False),
    ]
