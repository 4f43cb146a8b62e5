"""A visual report of generated datasets: ``occreid report OUT [OUT2] --html DIR/index.html``.

People judge an occluded dataset by looking at it. The report is one HTML page and an assets folder
beside it (``DIR/index_assets/``: JPEG thumbnails and SVG plots):

1. a statistics table per split (ids, images, cameras, clothes, statuses) and an occlusion table
   (parts covered, percentiles of the occluded fractions, what made the part maps);
2. plots of the parts covered, the occluded image fraction and the covered person fraction, with
   the published samples' medians (docs/paper.md) marked for reference;
3. sample grids per split and body part: original | part map on the original | occluded, and for
   pasted occluders (person, scene, object) the donor image or the object file beside them;
4. the no_person and error images with their reasons (capped, with counts per reason);
5. with two outputs, both side by side (tables, plot series, an extra grid column).

One module per job: ``data`` reads a run (manifest, statistics, parameters), ``thumbnails`` makes
the images, ``plots`` the SVG plots, ``page`` gathers the sections and renders
``templates/report.html.j2``. The ``occreid report`` command lives in ``cli.py``.

Samples are the first rows of each group in the order of SHA-1(seed, relpath), so a report is
reproducible to the byte and a larger dataset only adds candidates. The work is capped (samples
per cell, listed images, splits with grids), so a report takes about the same few seconds for
5,000 images as for 30,000.
"""

from __future__ import annotations

from .data import ReportError
from .page import ReportOutputError, ReportResult, write_report

__all__ = ["ReportError", "ReportOutputError", "ReportResult", "write_report"]
