"""Evaluation protocols: which records are queries, which are the gallery, what counts as correct.

Each dataset declares its published settings (:meth:`occreid.datasets.Layout.protocols`, see
``docs/datasets.md``); this module turns them into :class:`Setting` objects and evaluates them
with features of single images:

- image datasets: one feature per image (the flip-sum is done when embedding), L2-normalised;
- video datasets (MARS, CCVID): a tracklet's feature is the mean of its frames' features,
  L2-normalised, as the public code averages its clip features; queries and gallery items are
  tracklets;
- the distance is the negative cosine similarity (or torchreid's squared Euclidean distance,
  optionally k-reciprocal re-ranked: :class:`Scoring`); the good / junk rule is the setting's
  (:func:`metrics.label_masks`), with the camera taken from the record, from the tracklet
  (DeepChange) or unique per image (LaST, Celeb-reID: no camera exists).

PRCC is evaluated with both gallery protocols: multi-shot (every camera-A image, what CAL reports)
and single-shot (one camera-A image per identity, ``repeats`` draws averaged; the original PRCC
paper's). The draws are occreid's own seeded ones (``single_shot="occreid"``) or exactly CAL's
(``single_shot="cal"``: ``random.seed(3)``, one ``random.choice`` per identity, identities and
images in CAL's folder order, see :func:`cal_single_shot_draws`). Every result says which.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..datasets import declaration
from ..datasets.base import CAMERA_PER_IMAGE, CAMERA_TRACKLET
from ..datasets.prcc import cal_gallery_order
from ..datasets.records import Dataset, Record
from ..errors import OccreidError
from .distances import DISTANCES, distance
from .metrics import Metrics, average, evaluate_labels
from .rerank import check_memory, re_ranking

#: Layouts with an evaluation protocol (every declaration but ``folder``).
PROTOCOL_LAYOUTS = ("prcc", "ltcc", "market", "duke", "msmt17", "mars", "ccvid", "vcclothes", "deepchange", "last",
                    "celeb", "celeb-light", "occluded-duke", "occluded-reid", "partial-reid", "p-duke")

MULTI_SHOT = "multi-shot"
#: Ways to draw PRCC's single-shot galleries.
SINGLE_SHOT_DRAWS = ("occreid", "cal")


#: Tie rules of :class:`Scoring`: occreid's stable sort, or CAL's torch distances ranked by NumPy's argsort.
TIE_RULES = ("gallery-order", "cal")


@dataclass(frozen=True)
class Scoring:
    """How a setting is scored: the distance, the tie rule, re-ranking, per-query results.

    ``distance``: ``cosine`` (negative cosine similarity of L2-normalised features, CAL's) or
    ``euclidean`` (squared Euclidean distance of the features as given, torchreid's default).
    ``ties``: ``gallery-order`` (a stable sort: equal computed distances keep gallery order) or
    ``cal`` (cosine distances computed as CAL's ``test.py`` does, with ``torch.mm``, and ranked with
    NumPy's default argsort as CAL's ``evaluate``: CAL's numbers, ties included; needs PyTorch).
    ``rerank``: k-reciprocal re-ranking (:func:`.rerank.re_ranking`, k1=20, k2=6, lambda=0.3) of
    the distances (``1 - cosine`` or squared Euclidean), as torchreid's ``rerank=True``.
    ``per_query``: keep each query's first-match rank, AP and INP. ``device``: where the ``cal``
    tie rule runs ``torch.mm`` (CAL runs it on ``cuda``; the CPU's BLAS may round differently).
    """

    distance: str = "cosine"
    ties: str = "gallery-order"
    rerank: bool = False
    per_query: bool = False
    device: str = "cpu"

    def __post_init__(self):
        if self.distance not in DISTANCES:
            raise ProtocolError(f"unknown distance {self.distance!r}; expected one of {', '.join(DISTANCES)}")
        if self.ties not in TIE_RULES:
            raise ProtocolError(f"unknown tie rule {self.ties!r}; expected one of {', '.join(TIE_RULES)}")
        if self.ties == "cal" and self.distance != "cosine":
            raise ProtocolError("the cal tie rule reproduces CAL's cosine distances; use it with --distance cosine")

    def matrix(self, qf: np.ndarray, gf: np.ndarray):
        """The (Q, G) distances to rank (re-ranked when asked)."""
        backend = "torch" if self.ties == "cal" else "numpy"
        try:
            d = distance(self.distance, qf, gf, backend, self.device)
            if not self.rerank:
                return d
            check_memory(d.shape[0] + d.shape[1])  # before the (Q,Q) and (G,G) distances are built
            shift = 1.0 if self.distance == "cosine" else 0.0  # torchreid's cosine distance is 1 - cos
            return re_ranking(np.asarray(d) + shift,
                              np.asarray(distance(self.distance, qf, qf, backend, self.device)) + shift,
                              np.asarray(distance(self.distance, gf, gf, backend, self.device)) + shift)
        except ValueError as e:
            raise ProtocolError(str(e)) from None

    @property
    def sort(self) -> str:
        return "argsort" if self.ties == "cal" else "gallery-order"

    def describe(self) -> dict:
        out = {"distance": self.distance, "ties": self.ties, "rerank": self.rerank}
        return {**out, "device": self.device} if self.ties == "cal" else out


class ProtocolError(OccreidError, ValueError):
    """The dataset has no evaluation protocol, or lacks the query / gallery images it needs."""


class FeatureError(OccreidError, ValueError):
    """The features do not fit the dataset (missing, unknown or duplicated paths, bad shapes)."""


@dataclass(frozen=True)
class Setting:
    """One evaluation setting of a dataset.

    ``query`` and ``gallery`` are the records used (every frame, for video settings, where
    ``video`` is True and items are the tracklets those frames form); ``rule`` names the good /
    junk rule; ``camera`` says where the rule's camera comes from (``label``, ``tracklet``,
    ``per-image``); ``gallery_protocol`` is ``"multi-shot"`` or ``"single-shot xN"`` (with
    ``" (CAL)"`` for CAL's draws), in which case ``draws`` holds N index arrays into ``gallery``
    (one image per identity each).
    """

    dataset: str
    name: str
    rule: str
    query: tuple[Record, ...]
    gallery: tuple[Record, ...]
    gallery_protocol: str = MULTI_SHOT
    draws: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)
    seed: int | None = None
    camera: str = "label"
    video: bool = False
    note: str = ""

    @property
    def label(self) -> str:
        """A display name, e.g. ``cloth-changing`` or ``cloth-changing (single-shot x10)``."""
        return self.name if self.dataset != "prcc" else f"{self.name} ({self.gallery_protocol})"

    @property
    def key(self) -> str:
        """A JSON key, e.g. ``cloth-changing/single-shot-x10`` (``.../single-shot-x10-cal`` for CAL's draws)."""
        if self.dataset != "prcc":
            return self.name
        proto = self.gallery_protocol.replace(" (CAL)", "-cal").replace(" ", "-")
        return f"{self.name}/{proto}"


def labelled_pid(record: Record) -> int:
    """The identity of an image a protocol evaluates; ProtocolError for an image without one (a
    ``folder`` layout has no labels to evaluate)."""
    if record.pid is None:
        raise ProtocolError(f"{record.relpath} has no identity label: evaluation needs a labelled dataset.")
    return record.pid


def single_shot_draws(gallery: Sequence[Record], repeats: int, seed: int) -> tuple[np.ndarray, ...]:
    """``repeats`` seeded draws of one gallery image per identity (indices into ``gallery``).

    Identities are visited in increasing pid order and each draw picks uniformly among the
    identity's images with ``numpy.random.default_rng(seed)``, so a seed fixes every draw.
    """
    by_pid: dict[int, list[int]] = {}
    for i, r in enumerate(gallery):
        by_pid.setdefault(labelled_pid(r), []).append(i)
    rng = np.random.default_rng(seed)
    pids = sorted(by_pid)
    return tuple(
        np.array([by_pid[p][rng.integers(len(by_pid[p]))] for p in pids], dtype=np.int64) for _ in range(repeats)
    )


def cal_single_shot_draws(
    gallery: Sequence[Record], root: str | Path, repeats: int = 10, order: str = "sorted",
) -> tuple[np.ndarray, ...]:
    """PRCC's single-shot draws exactly as CAL's loader makes them (indices into ``gallery``).

    CAL lists the camera-A gallery (person folders, then their images: :func:`cal_gallery_order`
    with ``order``), groups indices by identity in the order identities first appear, then calls
    ``random.seed(3)`` and, for each of its 10 rounds, ``random.choice`` once per identity in that
    order. A private ``random.Random(3)`` gives the same sequence without touching global state.
    """
    listed = cal_gallery_order(root, order)
    position = {r.relpath: i for i, r in enumerate(gallery)}
    missing = [p for p in listed if p not in position]
    if missing or len(listed) != len(gallery):
        raise ProtocolError(f"the camera-A gallery of {root} does not match CAL's listing of it "
                            f"({len(listed)} listed, {len(gallery)} read)")
    by_pid: dict[int, list[int]] = {}
    for rel in listed:
        by_pid.setdefault(labelled_pid(gallery[position[rel]]), []).append(position[rel])
    rng = random.Random(3)
    return tuple(np.array([rng.choice(by_pid[p]) for p in by_pid], dtype=np.int64) for _ in range(repeats))


def settings(
    dataset: Dataset, single_shot_repeats: int = 10, seed: int = 0, single_shot: str = "occreid",
    cal_order: str = "sorted",
) -> list[Setting]:
    """The evaluation settings of a dataset, from its declaration's protocols.

    Every protocol gives one multi-shot setting; PRCC's also give single-shot settings when
    ``single_shot_repeats`` > 0, drawn by ``single_shot`` (``"occreid"``: seeded by ``seed``;
    ``"cal"``: CAL's ``random.seed(3)`` draws over ``cal_order``). A dataset without protocols, or
    without the records a protocol needs, raises ProtocolError with the reason.
    """
    if single_shot not in SINGLE_SHOT_DRAWS:
        raise ProtocolError(f"single_shot must be one of {', '.join(SINGLE_SHOT_DRAWS)}, not {single_shot!r}")
    decl = declaration(dataset)
    protocols = decl.protocols(dataset)
    if not protocols:
        raise ProtocolError(f"{dataset.root} cannot be evaluated: {decl.no_protocol_reason(dataset)}")
    out: list[Setting] = []
    single: list[Setting] = []
    for p in protocols:
        query = tuple(r for r in dataset.records if p.query(r))
        gallery = tuple(r for r in dataset.records if p.gallery(r))
        for what, recs in (("queries", query), ("gallery images", gallery)):
            if not recs:
                raise ProtocolError(f"{dataset.root} has no {what} for the {decl.title} {p.name} setting; "
                                    "the evaluation protocol needs them")
        out.append(Setting(dataset.layout, p.name, p.rule, query, gallery, camera=p.camera, video=p.video,
                           note=p.note))
        if p.single_shot and single_shot_repeats > 0:
            if single_shot == "cal":
                draws = cal_single_shot_draws(gallery, dataset.root, single_shot_repeats, cal_order)
                proto, draw_seed = f"single-shot x{single_shot_repeats} (CAL)", 3
            else:
                draws = single_shot_draws(gallery, single_shot_repeats, seed)
                proto, draw_seed = f"single-shot x{single_shot_repeats}", seed
            single.append(Setting(dataset.layout, p.name, p.rule, query, gallery, proto, draws, draw_seed,
                                  camera=p.camera, note=p.note))
    return out + single


def evaluation_records(dataset: Dataset) -> list[Record]:
    """Every record some setting uses as query or gallery, in dataset order (what ``embed`` embeds)."""
    used: set[str] = set()
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
    def load(cls, path: str | Path) -> FeatureTable:
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


def tracklets(records: Sequence[Record]) -> list[np.ndarray]:
    """Indices of ``records`` grouped by tracklet, tracklets in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.tracklet is None:
            raise ProtocolError(f"{r.relpath} has no tracklet; a video setting needs one on every frame")
        groups.setdefault(r.tracklet, []).append(i)
    return [np.array(g, dtype=np.int64) for g in groups.values()]


def tracklet_features(features: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of each group's rows (the caller's distance L2-normalises them)."""
    return np.stack([features[g].mean(axis=0) for g in groups]) if groups else features[:0]


def _items(setting: Setting, features: FeatureTable) -> tuple[np.ndarray, list[Record], np.ndarray, list[Record]]:
    """Query and gallery features with one representative record each (a tracklet's first frame)."""
    qf, gf = features.rows(setting.query), features.rows(setting.gallery)
    if not setting.video:
        return qf, list(setting.query), gf, list(setting.gallery)
    qg, gg = tracklets(setting.query), tracklets(setting.gallery)
    return (tracklet_features(qf, qg), [setting.query[g[0]] for g in qg],
            tracklet_features(gf, gg), [setting.gallery[g[0]] for g in gg])


def _cameras(setting: Setting, query: Sequence[Record], gallery: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    if setting.camera == CAMERA_PER_IMAGE:  # each image its own camera: nothing but the image itself is junk
        return np.arange(len(query)), len(query) + np.arange(len(gallery))
    if setting.camera == CAMERA_TRACKLET:
        codes: dict[str, int] = {}
        q = [codes.setdefault(str(r.tracklet), len(codes)) for r in query]
        g = [codes.setdefault(str(r.tracklet), len(codes)) for r in gallery]
        return np.array(q, dtype=np.int64), np.array(g, dtype=np.int64)
    return (np.array([r.camera for r in query], dtype=np.int64), np.array([r.camera for r in gallery], dtype=np.int64))


def _query_arrays(m: Metrics) -> dict:
    """The per-query arrays ``evaluate(per_query=True)`` keeps (``first``, ``ap``, ``inp``)."""
    assert isinstance(m.per_query, dict), "evaluated with per_query=True"
    return m.per_query


def _per_query(setting: Setting, query: Sequence[Record], runs: Sequence[Metrics]) -> list[dict]:
    """Each query's rank-1 hit, first-match rank (1-based), AP and INP; single-shot: means over the draws."""
    arrays = [_query_arrays(r) for r in runs]
    first = np.stack([a["first"] for a in arrays])
    ap, inp = np.stack([a["ap"] for a in arrays]), np.stack([a["inp"] for a in arrays])
    out = []
    for i, rec in enumerate(query):
        valid = first[:, i] >= 0
        row: dict[str, object] = {"setting": setting.key, "query": rec.relpath, "pid": rec.pid,
                                  "valid": bool(valid.any())}
        if len(runs) == 1:
            row["first_match_rank"] = int(first[0, i]) + 1 if valid[0] else None
        row["rank1"] = float(np.mean(first[valid, i] == 0)) if valid.any() else None
        row["ap"] = float(np.mean(ap[valid, i])) if valid.any() else None
        row["inp"] = float(np.mean(inp[valid, i])) if valid.any() else None
        out.append(row)
    return out


def evaluate_setting(setting: Setting, features: FeatureTable, max_rank: int = 20,
                     scoring: Scoring | None = None) -> Metrics:
    """CMC, mAP and mINP of one setting; single-shot settings are the mean over their draws.

    With ``scoring.per_query`` the result's ``per_query`` is a list of per-query dicts
    (``setting``, ``query`` relpath, ``pid``, ``valid``, ``rank1``, ``first_match_rank``, ``ap``, ``inp``).
    """
    scoring = scoring or Scoring()
    qf, query, gf, gallery = _items(setting, features)
    q_pid = np.array([r.pid for r in query], dtype=np.int64)
    g_pid = np.array([r.pid for r in gallery], dtype=np.int64)
    q_cam, g_cam = _cameras(setting, query, gallery)
    if setting.rule != "general" and any(r.clothes is None for r in query + gallery):
        raise ProtocolError(f"the {setting.rule} setting needs clothes labels on every image")
    codes = {c: i for i, c in enumerate(sorted({str(r.clothes) for r in query + gallery}))}
    q_clo = np.array([codes[str(r.clothes)] for r in query], dtype=np.int64)
    g_clo = np.array([codes[str(r.clothes)] for r in gallery], dtype=np.int64)
    extra: dict = {"gallery_protocol": setting.gallery_protocol, **scoring.describe()}
    if setting.video:
        extra.update(unit="tracklet", query_tracklets=len(query), gallery_tracklets=len(gallery))
    draws = [None] if setting.gallery_protocol == MULTI_SHOT else list(setting.draws)
    runs = []
    for d in draws:
        sel = slice(None) if d is None else d
        runs.append(evaluate_labels(scoring.matrix(qf, gf[sel]), q_pid, g_pid[sel], q_cam, g_cam[sel], q_clo,
                                    g_clo[sel], setting.rule, max_rank, ties=scoring.sort,
                                    per_query=scoring.per_query))
    if setting.gallery_protocol == MULTI_SHOT:
        m = runs[0]
    else:
        m = average(runs)
        extra.update(repeats=len(runs), seed=setting.seed)
    details = _per_query(setting, query, runs) if scoring.per_query else None
    return Metrics(m.cmc, m.mAP, m.num_queries, m.num_valid, m.num_gallery, {**m.extra, **extra}, m.mINP, details)


def evaluate_dataset(
    dataset: Dataset, features: FeatureTable, single_shot_repeats: int = 10, seed: int = 0, max_rank: int = 20,
    single_shot: str = "occreid", cal_order: str = "sorted", scoring: Scoring | None = None,
) -> list[tuple[Setting, Metrics]]:
    """Every setting of ``dataset`` evaluated with ``features`` (checked against the dataset first)."""
    features.check(dataset)
    chosen = settings(dataset, single_shot_repeats, seed, single_shot, cal_order)
    return [(s, evaluate_setting(s, features, max_rank, scoring)) for s in chosen]
