"""Dataset classes for training and testing code: CAL-style and torchreid-style sample lists.

Any layout occreid reads (an original dataset or its occluded twin) becomes the lists the public
codebases expect:

- CAL / AIM / OC4-ReID: ``(img_path, pid, camid, clothes_id)`` in ``train``, ``query``,
  ``gallery`` (PRCC: ``query_same``, ``query_diff``, ``gallery``, and ``val``), with
  ``num_train_pids``, ``num_train_clothes`` and ``pid2clothes``. Labels follow CAL's loaders:
  train pids and clothes relabelled to 0..N-1 over their sorted keys; test pids kept as they are;
  LTCC test clothes relabelled over the sorted keys of query and gallery together; PRCC test
  clothes ``2 * i`` (cameras A and B) and ``2 * i + 1`` (camera C) for the i-th camera-A identity.
- torchreid / fast-reid: ``(img_path, pid, camid)`` (:meth:`ReIDDataset.torchreid_lists`).

Which records are train, query and gallery comes from the dataset's declaration
(:mod:`occreid.datasets`): its roles, and its ``test_splits`` where a dataset has validation and
test queries (DeepChange, LaST: the lists hold the test ones). Datasets without outfits (Market,
MARS, MSMT17, Celeb-reID) get one outfit per identity; datasets without cameras (LaST, Celeb-reID)
number their images' cameras as LaST's loader does (gallery after query). Paths are absolute strings.

Registering an occluded dataset in torchreid is one line::

    from occreid.evaluation import register_torchreid; register_torchreid("occ_prcc", "/data/occ_prcc")

then ``torchreid.data.ImageDataManager(root="/data", sources="occ_prcc", targets="occ_prcc")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..datasets import declaration, read_dataset
from ..datasets.records import Record
from .protocols import labelled_pid

Sample = tuple  # (img_path, pid, camid, clothes_id) or (img_path, pid, camid)


def _cal_key(layout: str, r: Record) -> str:
    """The clothes key CAL's loader would sort on."""
    if layout == "prcc":  # the person folder name, + 'C' for camera C
        folder = r.relpath.split("/")[-2]
        return folder + ("C" if r.camera == 2 else "")
    return r.clothes if r.clothes is not None else f"{r.pid}"


def _relabel(keys) -> dict:
    return {k: i for i, k in enumerate(sorted(set(keys)))}


class ReIDDataset:
    """CAL-style sample lists of a dataset of any layout (detected unless ``layout`` is given).

    Attributes: ``train``, ``query``, ``gallery`` (lists of ``(img_path, pid, camid, clothes_id)``),
    ``num_train_pids``, ``num_train_clothes``, ``pid2clothes`` (num_train_pids x num_train_clothes,
    1 where the identity wears the outfit), ``layout``, ``root``. PRCC adds ``val``,
    ``query_same`` (camera B), ``query_diff`` (camera C) and sets ``query = query_same + query_diff``.
    DeepChange and LaST add ``val_query`` and ``val_gallery`` (``query`` and ``gallery`` are their
    test sets). MARS's query and gallery come from its ``info/`` files (empty without them); MSMT17's ``val``
    list is left out of ``train`` as torchreid does. A folder layout has no labels and raises ValueError.
    """

    layout_name: str | None = None

    def __init__(self, root: str | Path, layout: str | None = None, **kwargs):
        self.root = Path(root)
        ds = read_dataset(self.root, layout or self.layout_name)
        self.layout = ds.layout
        self.video = declaration(ds).video
        self.junk_pids = tuple(declaration(ds).junk_pids)
        self._tracklet = {self._path(r): r.tracklet for r in ds.records}
        if ds.layout == "folder":
            raise ValueError(f"{self.root} was read as a folder of unlabelled images; re-ID lists need labels")
        recs = [r for r in ds.records if r.pid is not None and r.pid != -1]  # -1: Market junk images
        if ds.layout == "prcc":
            train = [r for r in recs if r.split == "train"]
            val = [r for r in recs if r.split == "val"]
            test = [r for r in recs if r.split == "test"]
            gallery = [r for r in test if r.camera == 0]
            q_same = [r for r in test if r.camera == 1]
            q_diff = [r for r in test if r.camera == 2]
            self.train, self.num_train_pids, self.num_train_clothes, self.pid2clothes = self._train(train)
            self.val, *_ = self._train(val)
            order = {p: i for i, p in enumerate(sorted({labelled_pid(r) for r in gallery}))}
            missing = {labelled_pid(r) for r in test} - set(order)
            for p in sorted(missing):  # ids missing from camera A, after the others
                order[p] = len(order)
            self.gallery = [self._sample(r, 2 * order[labelled_pid(r)]) for r in gallery]
            self.query_same = [self._sample(r, 2 * order[labelled_pid(r)]) for r in q_same]
            self.query_diff = [self._sample(r, 2 * order[labelled_pid(r)] + 1) for r in q_diff]
            self.query = self.query_same + self.query_diff
            self.num_test_clothes = 2 * len(order)
        else:
            decl = declaration(ds)
            s_query, s_gallery = decl.test_splits or (None, None)
            train = [r for r in recs if decl.role(r) == "train" and r.split not in decl.held_out]
            query = [r for r in recs if decl.role(r) == "query" and s_query in (None, r.split)]
            gallery = [r for r in recs if decl.role(r) == "gallery" and s_gallery in (None, r.split)]
            self._numbered = {r.relpath: i for i, r in enumerate(train)}
            self._numbered.update({r.relpath: i for i, r in enumerate(query + gallery)})
            self.train, self.num_train_pids, self.num_train_clothes, self.pid2clothes = self._train(train)
            clothes = _relabel(_cal_key(ds.layout, r) for r in query + gallery)
            self.query = [self._sample(r, clothes[_cal_key(ds.layout, r)]) for r in query]
            self.gallery = [self._sample(r, clothes[_cal_key(ds.layout, r)]) for r in gallery]
            self.num_test_clothes = len(clothes)
            if decl.test_splits is not None:  # DeepChange, LaST: the validation query and gallery, as CAL keeps them
                v_query = [r for r in recs if decl.role(r) == "query" and r.split != s_query]
                v_gallery = [r for r in recs if decl.role(r) == "gallery" and r.split != s_gallery]
                self._numbered.update({r.relpath: i for i, r in enumerate(v_query + v_gallery)})
                v_clothes = _relabel(_cal_key(ds.layout, r) for r in v_query + v_gallery)
                self.val_query = [self._sample(r, v_clothes[_cal_key(ds.layout, r)]) for r in v_query]
                self.val_gallery = [self._sample(r, v_clothes[_cal_key(ds.layout, r)]) for r in v_gallery]
        self.num_query_pids = len({s[1] for s in self.query})
        self.num_gallery_pids = len({s[1] for s in self.gallery})

    def _path(self, r: Record) -> str:
        return str(self.root / r.relpath)

    def _sample(self, r: Record, clothes_id: int, pid: int | None = None) -> Sample:
        camera = r.camera if r.camera is not None else getattr(self, "_numbered", {}).get(r.relpath, 0)
        return (self._path(r), r.pid if pid is None else pid, camera, clothes_id)

    def _train(self, records: Sequence[Record]) -> tuple[list[Sample], int, int, np.ndarray]:
        pids = _relabel(r.pid for r in records)
        clothes = _relabel(_cal_key(self.layout, r) for r in records)
        pid2clothes = np.zeros((len(pids), len(clothes)))
        out = []
        for r in records:
            p, c = pids[r.pid], clothes[_cal_key(self.layout, r)]
            out.append(self._sample(r, c, p))
            pid2clothes[p, c] = 1
        return out, len(pids), len(clothes), pid2clothes

    def tracklets(self, samples: Sequence[Sample]) -> list[Sample]:
        """Frame samples grouped into video samples ``(img_paths, pid, camid, ...)`` by tracklet.

        The shape CAL's CCVID and torchreid's MARS lists have: one tuple of frame paths (sorted) per
        tracklet, in order of first appearance, with the first frame's labels.
        """
        groups: dict[str, list[Sample]] = {}
        for s in samples:
            groups.setdefault(str(self._tracklet.get(s[0])), []).append(s)
        return [(tuple(sorted(x[0] for x in g)), *g[0][1:]) for g in groups.values()]

    def torchreid_lists(self, prcc_query: str = "cloth-changing") -> tuple[list[Sample], list[Sample], list[Sample]]:
        """(train, query, gallery) as torchreid's ``(img_path, pid, camid)`` (train pids relabelled).

        For PRCC, ``prcc_query`` picks the queries: ``cloth-changing`` (camera C), ``same-clothes``
        (camera B) or ``both``; the gallery is camera A. Video datasets (MARS, CCVID) give
        ``(img_paths, pid, camid)`` per tracklet, as torchreid's ``VideoDataset`` takes them.
        """
        if self.video:
            train, query, gallery = ([s[:3] for s in self.tracklets(x)] for x in (self.train, self.query, self.gallery))
            return train, query, gallery
        query = self.query
        if self.layout == "prcc":
            choices = {"cloth-changing": self.query_diff, "same-clothes": self.query_same, "both": self.query}
            if prcc_query not in choices:
                raise ValueError(f"prcc_query must be one of {', '.join(choices)}, not {prcc_query!r}")
            query = choices[prcc_query]
        return ([s[:3] for s in self.train], [s[:3] for s in query], [s[:3] for s in self.gallery])


class CalPRCC(ReIDDataset):
    """CAL's reading of PRCC (or Occ-PRCC / an occreid output of PRCC) at ``root``: the folder holding ``rgb/``."""

    layout_name = "prcc"


class CalLTCC(ReIDDataset):
    """CAL's reading of LTCC (or Occ-LTCC / an occreid output of LTCC) at ``root``: the folder holding
    ``train/``, ``query/``, ``test/``."""

    layout_name = "ltcc"


class CalMarket1501(ReIDDataset):
    """CAL's / torchreid's reading of Market-1501 (or an occreid output of it) at ``root``; one outfit per identity."""

    layout_name = "market"


#: torchreid is KaiyangZhou/deep-person-reid, installed from its source; the PyPI project named "torchreid" is
#: someone else's repackaging.
TORCHREID_INSTALL = ("register_torchreid needs torchreid from https://github.com/KaiyangZhou/deep-person-reid, "
                     "installed from its source as its README says (git clone it, then in it pip install -r "
                     "requirements.txt and python setup.py develop); `pip install torchreid` installs another "
                     "project's repackaging, not this one.")


def register_torchreid(name: str, root: str | Path, layout: str | None = None, prcc_query: str = "cloth-changing"):
    """Register the dataset at ``root`` in torchreid under ``name``; returns the dataset class.

    The class is a ``torchreid.data.ImageDataset`` (``VideoDataset`` for MARS and CCVID, registered
    with ``register_video_dataset``) built from :meth:`ReIDDataset.torchreid_lists`; the
    ``root`` torchreid passes when it builds the dataset is ignored (``root`` here is used).
    Its ``_junk_pids`` are the declaration's (Market-1501: 0 and -1, as torchreid's own class), so
    ``combineall=True`` adds no distractor identity. A dataset without a training split
    (Occluded-REID, Partial-REID) gets query + gallery as a dummy ``train``, as torchreid's own
    test-only datasets (SenseReID) do. One line: ``register_torchreid("occ_ltcc", "/data/Occ_LTCC")``,
    then ``torchreid.data.ImageDataManager(root="/data", sources="occ_ltcc")``.
    """
    try:
        import torchreid
    except ImportError as e:
        raise ImportError(TORCHREID_INSTALL) from e
    data_root = Path(root)
    first = ReIDDataset(data_root, layout)  # fail now, not when torchreid first builds the dataset
    base = torchreid.data.VideoDataset if first.video else torchreid.data.ImageDataset

    class OccReIDImageDataset(base):  # type: ignore[valid-type,misc]  # torchreid's class, chosen at run time
        dataset_dir = str(data_root)
        _junk_pids = list(first.junk_pids)

        def __init__(self, root: str = "", **kwargs):
            train, query, gallery = ReIDDataset(data_root, layout).torchreid_lists(prcc_query)
            super().__init__(train or query + gallery, query, gallery, **kwargs)

    OccReIDImageDataset.__name__ = OccReIDImageDataset.__qualname__ = f"OccReID_{name}"
    register = torchreid.data.register_video_dataset if first.video else torchreid.data.register_image_dataset
    register(name, OccReIDImageDataset)
    return OccReIDImageDataset
