"""Occluded-DukeMTMC (Miao et al., "Pose-Guided Feature Alignment for Occluded Person Re-Identification", ICCV 2019),
read as TransReID's ``OCC_DukeMTMCreID`` and BPBReID's ``OccludedDuke`` read it."""

from __future__ import annotations

import json
from pathlib import Path

from .duke import DukeMTMCreID
from .records import STATE_DIR

#: The folder the public loaders expect under their data root.
FOLDER = "Occluded_Duke"


def _declared_layout(root: Path) -> str | None:
    """The layout an occreid output at ``root`` records (``_occreid/summary.json``), if any."""
    summary = root / STATE_DIR / "summary.json"
    try:
        if summary.is_file() and summary.stat().st_size < 1 << 20:
            return json.loads(summary.read_text(encoding="utf-8")).get("layout")
    except (OSError, ValueError, AttributeError):
        return None
    return None


class OccludedDuke(DukeMTMCreID):
    """Occluded-DukeMTMC: DukeMTMC-reID's folders (``bounding_box_train/``, ``query/``, ``bounding_box_test/``) of
    ``PPPP_cC_fFFFFFFF.jpg``, re-split so that every query is occluded.

    Told from DukeMTMC-reID by its folder name (the root is ``Occluded_Duke/`` or holds it, as the
    loaders' ``dataset_dir``) or by an occreid output that records this layout; otherwise
    ``--layout occluded-duke``. pid and camera from ``([-\\d]+)_c(\\d)`` on the full path (camera C-1,
    8 cameras), as in DukeMTMC-reID. Setting (the paper's): general, occluded queries against the
    gallery of mostly whole-body images, same identity and camera junk.
    """

    name = "occluded-duke"
    title = "Occluded-DukeMTMC"
    expected = ("occluded-duke: Occluded_Duke/ with bounding_box_train/, bounding_box_test/, query/ holding "
                "PPPP_cC_fFFFFFFF.jpg")
    subfolders = ("", FOLDER + "/")

    def matches(self, root: Path) -> bool:
        if not super().matches(root):
            return False
        return self.prefix == FOLDER + "/" or root.name == FOLDER or _declared_layout(root) == self.name

    def matches_declared(self, root: Path) -> bool:
        """Whether ``root`` has the folders, whatever its name (``--layout occluded-duke``)."""
        return super().matches(root)
