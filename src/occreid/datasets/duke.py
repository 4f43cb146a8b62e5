"""DukeMTMC-reID (Zheng et al., ICCV 2017), read as torchreid's ``DukeMTMCreID`` reads it."""

from __future__ import annotations

import re

from .base import GENERAL, Protocol
from .market import Market1501
from .records import Dataset

#: DukeMTMC-reID's file names: ``PPPP_cC_fFFFFFFF.jpg``.
NAME = re.compile(r"^\d+_c\d_f\d+\.jpg$")


class DukeMTMCreID(Market1501):
    """DukeMTMC-reID: Market-1501's folders (``bounding_box_train/``, ``bounding_box_test/``, ``query/``)
    of ``PPPP_cC_fFFFFFFF.jpg``.

    pid and camera from torchreid's ``([-\\d]+)_c(\\d)`` on the full path (camera C-1, 8 cameras);
    no junk ids, no clothes. Told from Market-1501 by its file names. The split folders may sit in
    the root or in its ``DukeMTMC-reID/`` (torchreid's ``dukemtmc-reid/DukeMTMC-reID/``). Setting: general.
    """

    name = "duke"
    title = "DukeMTMC-reID"
    expected = "duke: bounding_box_train/, bounding_box_test/, query/ holding PPPP_cC_fFFFFFFF.jpg"
    names = NAME
    subfolders = ("", "DukeMTMC-reID/")
    junk_pids = ()  # torchreid's DukeMTMCreID declares none

    def protocols(self, dataset: Dataset) -> list[Protocol]:
        return [Protocol(GENERAL, GENERAL, lambda r: r.split == "query", lambda r: r.split == "bounding_box_test")]
