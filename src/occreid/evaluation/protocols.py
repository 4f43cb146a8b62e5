"""Evaluation protocols: which records are queries, which are the gallery, what counts as correct.

The rules are those of ``docs/PROTOCOLS.md`` (the public CAL / OC4-ReID evaluators):

| dataset | setting | query | gallery | rule (see :func:`metrics.label_masks`) |
| --- | --- | --- | --- | --- |
| PRCC | same-clothes | test camera B | test camera A | general (cameras always differ) |
| PRCC | cloth-changing | test camera C | test camera A | general |
| LTCC | general | query/ | test/ | general |
| LTCC | cloth-changing | query/ | test/ | cloth-changing |
| LTCC | same-clothes | query/ | test/ | same-clothes |
| Market | general | query/ | bounding_box_test/ (pid -1 junk images left out) | general |

PRCC is evaluated with both gallery protocols: multi-shot (every camera-A image, what CAL reports)
and single-shot (one random camera-A image per identity, ``repeats`` seeded draws, averaged; the
original PRCC paper's). Every result says which one it used.

Features: each image's feature (the flip-sum is done when embedding) is L2-normalised and the
distance is the negative cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from ..layout import Dataset, Record
from .metrics import CosineDistance, Metrics, average, evaluate_labels

#: Layouts with an evaluation protocol.
PROTOCOL_LAYOUTS = ("prcc", "ltcc", "market")

MULTI_SHOT = "multi-shot"


class ProtocolError(ValueError):
    """The dataset has no evaluation protocol, or lacks the query / gallery images it needs."""


class FeatureError(ValueError):
    """The features do not fit the dataset (missing, unknown or duplicated paths, bad shapes)."""


@dataclass(frozen=True)
class Setting:
    """One evaluation setting of a dataset.

    ``query`` and ``gallery`` are the records used; ``rule`` names the good / junk rule;
    ``gallery_protocol`` is ``"multi-shot"`` or ``"single-shot xN"``, in which case ``draws`` holds
    N index arrays into ``gallery`` (one image per identity each).
    """

    dataset: str
    name: str
    rule: str
    query: tuple[Record, ...]
    gallery: tuple[Record, ...]
    gallery_protocol: str = MULTI_SHOT
    draws: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    seed: int | None = None

    @property
    def label(self) -> str:
        """A display name, e.g. ``cloth-changing`` or ``cloth-changing (single-shot x10)``."""
        return self.name if self.dataset != "prcc" else f"{self.name} ({self.gallery_protocol})"

    @property
    def key(self) -> str:
        """A JSON key, e.g. ``cloth-changing/single-shot-x10``."""
        return self.name if self.dataset != "prcc" else f"{self.name}/{self.gallery_protocol.replace(' ', '-')}"


def single_shot_draws(gallery: Sequence[Record], repeats: int, seed: int) -> tuple[np.ndarray, ...]:
    """``repeats`` seeded draws of one gallery image per identity (indices into ``gallery``).

    Identities are visited in increasing pid order and each draw picks uniformly among the
    identity's images with ``numpy.random.default_rng(seed)``, so a seed fixes every draw.
    """
    by_pid: dict[int, list[int]] = {}
    for i, r in enumerate(gallery):
        by_pid.setdefault(r.pid, []).append(i)
    rng = np.random.default_rng(seed)
    pids = sorted(by_pid)
    return tuple(
        np.array([by_pid[p][rng.integers(len(by_pid[p]))] for p in pids], dtype=np.int64) for _ in range(repeats)
    )


def _need(records: Sequence[Record], what: str, root: Path) -> tuple[Record, ...]:
    if not records:
        raise ProtocolError(f"{root} has no {what}; the evaluation protocol needs them")
    return tuple(records)


def settings(dataset: Dataset, single_shot_repeats: int = 10, seed: int = 0) -> list[Setting]:
    """The evaluation settings of a dataset, from its layout records.

    PRCC gives same-clothes and cloth-changing, each multi-shot and (if ``single_shot_repeats`` > 0)
    single-shot averaged over that many draws seeded by ``seed``; LTCC gives general,
    cloth-changing and same-clothes; Market gives general. Other layouts raise ProtocolError.
    """
    recs = dataset.records
    root = dataset.root
    if dataset.layout == "prcc":
        test = [r for r in recs if r.split == "test"]
        gallery = _need([r for r in test if r.camera == 0], "test images of camera A (the gallery)", root)
        q_same = _need([r for r in test if r.camera == 1], "test images of camera B (same-clothes queries)", root)
        q_diff = _need([r for r in test if r.camera == 2], "test images of camera C (cloth-changing queries)", root)
        out = [Setting("prcc", "same-clothes", "general", q_same, gallery),
               Setting("prcc", "cloth-changing", "general", q_diff, gallery)]
        if single_shot_repeats > 0:
            draws = single_shot_draws(gallery, single_shot_repeats, seed)
            proto = f"single-shot x{single_shot_repeats}"
            out += [Setting("prcc", "same-clothes", "general", q_same, gallery, proto, draws, seed),
                    Setting("prcc", "cloth-changing", "general", q_diff, gallery, proto, draws, seed)]
        return out
    if dataset.layout == "ltcc":
        query = _need([r for r in recs if r.split == "query"], "images in query/", root)
        gallery = _need([r for r in recs if r.split == "test"], "images in test/ (the gallery)", root)
        return [Setting("ltcc", rule, rule, query, gallery) for rule in ("general", "cloth-changing", "same-clothes")]
    if dataset.layout == "market":
        query = _need([r for r in recs if r.split == "query" and r.pid != -1], "images in query/", root)
        gallery = _need([r for r in recs if r.split == "bounding_box_test" and r.pid != -1],
                        "images in bounding_box_test/ (the gallery)", root)
        return [Setting("market", "general", "general", query, gallery)]
    raise ProtocolError(
        f"{root} is a {dataset.layout} dataset, which has no evaluation protocol in occreid "
        f"(supported layouts: {', '.join(PROTOCOL_LAYOUTS)}). "
        + ("MARS is a video benchmark whose query/gallery split lives in its info files."
           if dataset.layout == "mars" else "A folder of unlabelled images cannot be evaluated.")
    )


def evaluation_records(dataset: Dataset) -> list[Record]:
    """Every record some setting uses as query or gallery, in dataset order (what ``embed`` embeds)."""
    used = set()
    for s in settings(dataset, single_shot_repeats=0):
        used.update(r.relpath for r in s.query)
        used.update(r.relpath for r in s.gallery)
    return [r for r in dataset.records if r.relpath in used]


def _few(items: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" ... ({len(items)} in all)" if len(items) > n else "")


def normalize_relpath(path: str) -> str:
    """A stored path in the canonical form: forward slashes, no leading ``./``."""
    p = str(path).replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return PurePosixPath(p).as_posix()


@dataclass
class FeatureTable:
    """Features of images keyed by their path relative to the dataset root (forward slashes).

    The ``.npz`` form holds ``paths`` (N strings) and ``features`` (N x D floats).
    """

    paths: list[str]
    features: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        self.paths = [normalize_relpath(p) for p in self.paths]
        self.features = np.asarray(self.features)
        if self.features.ndim != 2 or self.features.shape[0] != len(self.paths):
            raise FeatureError(
                f"features must be an N x D array with one row per path; got shape {self.features.shape} "
                f"for {len(self.paths)} paths")
        if not np.issubdtype(self.features.dtype, np.number):
            raise FeatureError(f"features must be numbers, not {self.features.dtype}")
        self._index = {}
        dups = []
        for i, p in enumerate(self.paths):
            if p in self._index:
                dups.append(p)
            self._index[p] = i
        if dups:
            raise FeatureError(f"{len(dups)} paths appear more than once in the features: {_few(dups)}")
        if not np.all(np.isfinite(self.features)):
            bad = [self.paths[i] for i in np.flatnonzero(~np.isfinite(self.features).all(axis=1))]
            raise FeatureError(f"{len(bad)} features hold NaN or infinite values: {_few(bad)}")

    @classmethod
    def load(cls, path: str | Path) -> "FeatureTable":
        """Read an ``.npz`` with ``paths`` and ``features``; FeatureError if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ("paths", "features") if k not in z.files]
                if missing:
                    raise FeatureError(f"{path} lacks the array(s) {', '.join(missing)} "
                                       f"(it has: {', '.join(z.files) or 'nothing'})")
                return cls([str(p) for p in z["paths"]], z["features"])
        except (OSError, ValueError) as e:
            if isinstance(e, FeatureError):
                raise
            raise FeatureError(f"cannot read features from {path}: {e}") from e

    def save(self, path: str | Path) -> None:
        """Write the ``.npz`` (``paths`` as unicode strings, ``features`` as float32)."""
        np.savez(path, paths=np.array(self.paths, dtype=str), features=self.features.astype(np.float32))

    def check(self, dataset: Dataset) -> None:
        """FeatureError if a stored path is not an image of ``dataset``, naming a few."""
        known = {r.relpath for r in dataset.records}
        unknown = [p for p in self.paths if p not in known]
        if unknown:
            raise FeatureError(
                f"{len(unknown)} of {len(self.paths)} feature paths are not images of {dataset.root}: "
                f"{_few(unknown)}. Paths must be relative to the dataset root, with forward slashes "
                "(was the features file made for another dataset or root?)")

    def rows(self, records: Sequence[Record]) -> np.ndarray:
        """The features of ``records`` in order; FeatureError naming a few missing ones."""
        missing = [r.relpath for r in records if r.relpath not in self._index]
        if missing:
            raise FeatureError(f"{len(missing)} of {len(records)} images have no feature: {_few(missing)}")
        return self.features[[self._index[r.relpath] for r in records]]


def _labels(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r.pid for r in records], dtype=np.int64), np.array([r.camera for r in records], dtype=np.int64))


def evaluate_setting(setting: Setting, features: FeatureTable, max_rank: int = 20) -> Metrics:
    """CMC and mAP of one setting; single-shot settings are the mean over their draws."""
    qf, gf = features.rows(setting.query), features.rows(setting.gallery)
    q_pid, q_cam = _labels(setting.query)
    g_pid, g_cam = _labels(setting.gallery)
    codes = {c: i for i, c in enumerate(sorted({str(r.clothes) for r in setting.query + setting.gallery}))}
    q_clo = np.array([codes[str(r.clothes)] for r in setting.query], dtype=np.int64)
    g_clo = np.array([codes[str(r.clothes)] for r in setting.gallery], dtype=np.int64)
    if setting.rule != "general" and any(r.clothes is None for r in setting.query + setting.gallery):
        raise ProtocolError(f"the {setting.rule} setting needs clothes labels on every image")
    if setting.gallery_protocol == MULTI_SHOT:
        m = evaluate_labels(CosineDistance(qf, gf), q_pid, g_pid, q_cam, g_cam, q_clo, g_clo, setting.rule, max_rank)
        extra = {"gallery_protocol": MULTI_SHOT}
    else:
        runs = [
            evaluate_labels(CosineDistance(qf, gf[d]), q_pid, g_pid[d], q_cam, g_cam[d], q_clo, g_clo[d],
                            setting.rule, max_rank)
            for d in setting.draws
        ]
        m = average(runs)
        extra = {"gallery_protocol": setting.gallery_protocol, "repeats": len(runs), "seed": setting.seed}
    return Metrics(m.cmc, m.mAP, m.num_queries, m.num_valid, m.num_gallery, {**m.extra, **extra})


def evaluate_dataset(
    dataset: Dataset, features: FeatureTable, single_shot_repeats: int = 10, seed: int = 0, max_rank: int = 20,
) -> list[tuple[Setting, Metrics]]:
    """Every setting of ``dataset`` evaluated with ``features`` (checked against the dataset first)."""
    features.check(dataset)
    return [(s, evaluate_setting(s, features, max_rank)) for s in settings(dataset, single_shot_repeats, seed)]
