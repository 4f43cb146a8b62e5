"""Who turns images into features for the bench: the built-in baseline descriptor or a user's model,
each with a key that names it in the feature cache (a model's file SHA-1 and its preprocessing)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..evaluation.cli import BASELINE_NAME
from ..evaluation.descriptor import StripeHistogram
from ..evaluation.embed import Preprocess, embed_images, load_model

Progress = Callable[[int], None] | None


class Embedder:
    """Features (N x D float32, L2-normalised) of ``(relpath, image file)`` items. ``key`` names the
    model in the cache; ``name`` is what the outputs call it."""

    key: str = ""
    name: str = ""

    def embed(self, items: Sequence[tuple[str, Path]], progress: Progress = None) -> np.ndarray:
        raise NotImplementedError


class BaselineEmbedder(Embedder):
    """The weight-free stripe colour-histogram baseline, exactly as ``occreid evaluate`` computes it
    (flip-sum, same defaults)."""

    def __init__(self, workers: int = 2):
        self.descriptor = StripeHistogram()
        self.workers = workers
        self.key = "baseline:" + hashlib.sha1(repr(self.descriptor).encode()).hexdigest()[:16]
        self.name = BASELINE_NAME

    def embed(self, items, progress=None):
        return self.descriptor.describe_paths([p for _, p in items], flip=True, workers=self.workers,
                                              progress=progress)


class ModelEmbedder(Embedder):
    """A TorchScript / torch.export / ONNX model through ``occreid embed``'s pipeline."""

    def __init__(self, path: Path, preprocess: Preprocess, batch_size: int = 64, flip: bool = True,
                 device: str = "cpu", workers: int = 2):
        self.model = load_model(path, device)
        self.preprocess, self.batch_size, self.flip, self.workers = preprocess, batch_size, flip, workers
        h = hashlib.sha1()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        self.key = f"model:{h.hexdigest()}:{preprocess}:{flip}"
        self.name = str(path)

    def embed(self, items, progress=None):
        return embed_images(self.model, [p for _, p in items], self.preprocess, self.batch_size, self.flip,
                            self.workers, progress)
