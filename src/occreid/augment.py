"""The generator's occlusion as a training-time transform, fed by saved part maps.

Parse a dataset once (``occreid generate DATA --out OUT --save-parts``), then occlude on the fly
while training, with no parser call per step::

    from occreid.augment import OccludeTransform
    occlude = OccludeTransform("OUT", dataset_root="DATA", preset="default", seed=0)
    img = occlude.read("DATA/train/001_1_c1_000001.png")   # PIL image, occluded
    occlude.set_epoch(epoch)                              # new draws each epoch

``OccludeTransform.from_run("OUT")`` takes the run's own parameters and seed: with
``set_epoch(None)`` (the default for it) it gives the same pixels as the generator.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.context import get_spawning_popen
from pathlib import Path

import numpy as np
from PIL import Image

from .occlusion import DONOR_SHAPES, Occluder, OcclusionParams, preset_params, relpath_rng
from .saved import part_map_path, parts_dir, read_labels, read_run


class OccludeTransform:
    """Occlude images with the part maps a generate run saved (``--save-parts``).

    Args:
        parts_root: the output root of a run made with ``--save-parts`` (its
            ``_occreid/parts`` folder holds the maps).
        dataset_root: the dataset the images come from; image paths are taken relative to it.
        preset: a preset name, one of ``occlusion.PRESETS``: ``default``, ``paper``, ``hard``,
            ``rectangle``, or the pasted ``person`` and ``scene`` (their donors are the other
            images of ``dataset_root`` with a saved part map); or
        params: explicit ``OcclusionParams`` (wins over ``preset``).
        seed: the draws' seed.
        p: probability that an image is occluded at all (augmentation strength).
        epoch: None draws exactly as the generator does (one fixed occluder per image);
            an integer gives other, reproducible draws per epoch (see ``set_epoch``).
        layout: the dataset's layout (``--layout``; None: detected), read for the donors of
            shapes person and scene (``from_run`` takes the run's own).

    Images without a saved part map (those the run did not occlude), or whose map has no person,
    are returned unchanged and counted in ``missing`` / ``no_person``. The counters and the epoch
    live in shared memory, so they are seen across DataLoader workers (``persistent_workers=True``
    included): ``set_epoch`` in the main process reaches the workers, and their counts come back,
    whether the workers are started with fork, spawn or forkserver. A plain pickle (``copy``,
    ``pickle.dumps``) carries a snapshot of the epoch and counters instead.
    A ``dataset_root`` that does not hold the run's images, or a path outside it, is refused.
    """

    _NO_EPOCH = -(2**63)  # the shared epoch's stand-in for None

    def __init__(self, parts_root, dataset_root, preset: str = "default", params: OcclusionParams | None = None,
                 seed: int = 0, p: float = 1.0, epoch: int | None = 0, layout: str | None = None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.parts_root = Path(parts_root)
        self.parts_dir = parts_dir(parts_root)
        if not self.parts_dir.is_dir():
            raise FileNotFoundError(f"no saved part maps under {self.parts_dir}: run occreid generate with "
                                    "--save-parts")
        self.dataset_root = Path(dataset_root).resolve()
        if not self.dataset_root.is_dir():
            raise FileNotFoundError(f"dataset_root {dataset_root} is not a folder")
        self._check_root(Path(parts_root))
        params = params or preset_params(preset)
        self._targets: dict = {}
        donors = None
        if params.shape in DONOR_SHAPES:  # other images of the dataset are the donors
            from .datasets import read_dataset
            from .occlusion import DonorBank

            records = read_dataset(self.dataset_root, layout).records
            donors = DonorBank.from_records(records, self.dataset_root, self.parts_dir)
            self._targets = {r.relpath: r for r in records}
        self.occluder = Occluder(params, donors)
        self.seed, self.p = seed, p
        self._epoch, self._counts = _shared(self._NO_EPOCH if epoch is None else int(epoch), (0, 0))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if get_spawning_popen() is None:  # a plain pickle, not a worker being started: a snapshot
            state["_epoch"], state["_counts"] = self._epoch.value, tuple(self._counts)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["_epoch"], int):
            state["_epoch"], state["_counts"] = _shared(state["_epoch"], state["_counts"])
        self.__dict__.update(state)

    def _check_root(self, parts_root: Path) -> None:
        """Refuse a dataset_root that holds none of the images whose part maps were saved."""
        maps = []
        for path in self.parts_dir.rglob("*.png"):
            maps.append(path.relative_to(self.parts_dir).as_posix()[: -len(".png")])
            if len(maps) >= 20:
                break
        if maps and not any((self.dataset_root / rel).is_file() for rel in maps):
            raise FileNotFoundError(f"dataset_root {self.dataset_root} holds none of the images of the part maps "
                                    f"in {parts_root} (e.g. {maps[0]}): give the dataset the run was made from.")

    @property
    def epoch(self) -> int | None:
        value = self._epoch.value
        return None if value == self._NO_EPOCH else value

    @property
    def missing(self) -> int:
        """Images seen without a saved part map (all processes)."""
        return self._counts[0]

    @property
    def no_person(self) -> int:
        """Images seen whose saved part map has no person (all processes)."""
        return self._counts[1]

    def _count(self, i: int) -> None:
        with self._counts.get_lock():
            self._counts[i] += 1

    @classmethod
    def from_run(cls, output_root, dataset_root=None, p: float = 1.0) -> OccludeTransform:
        """The transform of a finished run: its parameters, seed and input folder (``saved.read_run``;
        ValueError in one sentence when its run.json cannot be read)."""
        run = read_run(output_root)
        if dataset_root is None and run.input is None:
            raise ValueError(f"the run at {output_root} records no input folder; pass dataset_root.")
        layout = run.fingerprint.get("layout")
        return cls(output_root, dataset_root or run.input, params=run.params, seed=run.seed, p=p, epoch=None,
                   layout=layout if isinstance(layout, str) else None)

    def set_epoch(self, epoch: int | None) -> None:
        """Draw other occluders from now on (None: the generator's own draws), in every worker."""
        self._epoch.value = self._NO_EPOCH if epoch is None else int(epoch)

    def _relpath(self, path) -> str:
        path = Path(path)
        if path.is_absolute() or path.resolve().is_relative_to(self.dataset_root):
            if not path.resolve().is_relative_to(self.dataset_root):
                raise ValueError(f"{path} is not under dataset_root {self.dataset_root}")
            path = path.resolve().relative_to(self.dataset_root)
        return path.as_posix()

    def part_map(self, path) -> np.ndarray | None:
        """The saved part map of an image (absolute or dataset-relative path); None when there is
        none, or it is damaged or not a map of labels 0..6 (``saved.read_labels``)."""
        return read_labels(part_map_path(self.parts_root, self._relpath(path)))

    def __call__(self, image, path):
        """Occlude ``image`` (PIL image or H x W [x C] array) of the file at ``path``; same type back."""
        rel = self._relpath(path)
        parts = self.part_map(rel)
        if parts is None:
            self._count(0)
            return image
        if not parts.any():
            self._count(1)
            return image
        epoch = self.epoch
        prefix = "" if epoch is None else f"epoch{epoch}/"  # no prefix: the generator's own draws
        if self.p < 1.0 and relpath_rng(self.seed, rel, "p/" + prefix).random() >= self.p:
            return image
        pixels = np.asarray(image)
        if pixels.shape[:2] != parts.shape:
            raise ValueError(f"{rel}: image is {pixels.shape[1]}x{pixels.shape[0]} but its part map is "
                             f"{parts.shape[1]}x{parts.shape[0]}; occlude before resizing")
        out, _ = self.occluder(pixels, parts, relpath_rng(self.seed, rel, prefix), self._targets.get(rel))
        return Image.fromarray(out) if isinstance(image, Image.Image) else out

    def read(self, path) -> Image.Image:
        """Read an image as RGB (as CAL's and torchreid's ``read_image`` do) and occlude it."""
        with Image.open(path) as im:
            return self(im.convert("RGB"), path)


def _shared(epoch: int, counts) -> tuple:
    """The epoch and counters in shared memory, their locks made in the spawn context: such a lock
    may be handed to a process started by any method (fork inherits it; spawn and forkserver reopen
    it by name), whereas one made in the fork context refuses spawn and forkserver workers."""
    ctx = mp.get_context("spawn")
    return ctx.Value("q", epoch), ctx.Array("q", list(counts))
