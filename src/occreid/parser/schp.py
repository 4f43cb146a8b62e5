"""SCHP (Self-Correction for Human Parsing), Pascal-Person-Part model: the paper's parser.

The user provides the checkpoint (``exp-schp-201908270938-pascal-person-part.pth``); nothing is
downloaded. torch is optional (``pip install 'occreid[schp]'``) and imported only when an
:class:`SCHPParser` is built, so ``import occreid.parser`` works without it.

Same procedure as SCHP's single-scale extractor (see :mod:`.schp_transforms`), made faster:

* images are parsed in batches under ``torch.inference_mode``, in channels-last layout, with the
  normalisation folded into the convolutions, and in float16 autocast on CUDA;
* a background thread pulls and warps the next batch (decoding too, when ``iter_parse`` is given a
  lazy iterable) while the network runs, and worker threads warp the logits back and take the
  argmax of the previous batch;
* on CPU the intra-op thread count is set to the cores this process may use.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..cores import usable_cores
from .base import Parser, ParserError, ParseResult, as_rgb
from .schp_transforms import INPUT_SIZE, MEAN_BGR, STD_BGR, labels_from_logits, preprocess_rgb

NO_PERSON = "no person pixels"


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "the SCHP parser needs PyTorch, which is not installed; install it with "
            "pip install 'occreid[schp]' (or use the default parser, --parser mediapipe)"
        ) from exc
    return torch


class SCHPParser(Parser):
    """SCHP AugmentCE2P, Pascal-Person-Part (7 labels), from a user-provided checkpoint.

    Args:
        checkpoint: path of the SCHP checkpoint (loaded strictly; a wrong or damaged file raises
            :class:`~occreid.parser.schp_net.CheckpointError`).
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``); None picks CUDA when available.
        batch_size: images per forward pass in :meth:`parse_batch` / :meth:`iter_parse`.
        input_size: side of the square network input; 512 is the model's (smaller is faster and
            less faithful).
        threads: torch intra-op threads on CPU; None uses every core this process may use.
        half: float16 autocast; None means on for CUDA, off for CPU.
        channels_last: run the network in channels-last memory layout.
        fold: fold the normalisation layers into the convolutions (same results, faster).
    """

    name = "schp"
    cli_options = ("checkpoint", "device", "batch_size")
    cli_required = ("checkpoint",)
    takes_threads = True
    uses_gpu = True

    @classmethod
    def options_from_cli(cls, given: dict) -> dict:
        """``--checkpoint`` (required), ``--device`` (recorded even when not given: the fingerprint
        keeps it) and ``--batch-size`` when given."""
        if given.get("checkpoint") is None:
            raise ParserError("--parser schp needs --checkpoint (SCHP's Pascal-Person-Part .pth file).")
        options = {"checkpoint": str(given["checkpoint"]), "device": given.get("device")}
        if given.get("batch_size"):
            options["batch_size"] = given["batch_size"]
        return options

    def __init__(self, checkpoint, device=None, batch_size: int = 8, input_size: int = INPUT_SIZE,
                 threads: int | None = None, half: bool | None = None, channels_last: bool = True,
                 fold: bool = True):
        torch = _import_torch()
        from .schp_net import fold_abn, load_checkpoint

        self._torch = torch
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if input_size < 32:
            raise ValueError(f"input_size must be at least 32, got {input_size}")
        self.batch_size = int(batch_size)
        self.input_size = int(input_size)
        self.device = self._resolve_device(device)
        cuda = self.device.type == "cuda"
        self.half = cuda if half is None else bool(half)
        self.channels_last = bool(channels_last)
        self.threads = None
        if self.device.type == "cpu":
            self.threads = int(threads) if threads else usable_cores()
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
        self.checkpoint = os.fspath(checkpoint)

        model = load_checkpoint(checkpoint, device="cpu")
        if fold:
            fold_abn(model)
        for p in model.parameters():
            p.requires_grad_(False)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
        self.model = model.eval()
        if cuda:
            torch.backends.cudnn.benchmark = True
        self._mean = torch.tensor(MEAN_BGR, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD_BGR, device=self.device).view(1, 3, 1, 1)
        post_workers = max(1, min(4, usable_cores() - 1)) if cuda else 1
        self._pre_pool: ThreadPoolExecutor | None = ThreadPoolExecutor(1, "schp-pre")
        self._post_pool: ThreadPoolExecutor | None = ThreadPoolExecutor(post_workers, "schp-post")

    def _resolve_device(self, device):
        torch = self._torch
        if device in (None, "", "auto"):
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} asked for, but torch has no usable CUDA device "
                f"(torch {torch.__version__}); use --device cpu"
            )
        return dev

    # ------------------------------------------------------------------ public API

    def parse(self, rgb: np.ndarray) -> ParseResult:
        results = self.iter_parse([rgb], batch_size=1)
        try:
            return next(results)
        finally:
            results.close()

    def parse_batch(self, images: list[np.ndarray]) -> list[ParseResult]:
        return list(self.iter_parse(images))

    def iter_parse(self, images: Iterable[np.ndarray], batch_size: int | None = None
                   ) -> Generator[ParseResult, None, None]:
        """Parse a stream of RGB images, yielding one result per image, in order.

        ``images`` may be lazy (a generator that decodes files): it is consumed in a background
        thread, batch by batch, ahead of the network, so decoding and warping overlap compute.
        """
        if self._pre_pool is None or self._post_pool is None:
            raise RuntimeError("SCHPParser is closed")
        bs = int(batch_size or self.batch_size)
        source = iter(images)
        pre_pool, post_pool = self._pre_pool, self._post_pool

        pending_pre = pre_pool.submit(self._prepare, source, bs)
        ready: deque[Future | ParseResult] = deque()
        try:
            while True:
                prepared = pending_pre.result()
                if prepared is None:
                    break
                pending_pre = pre_pool.submit(self._prepare, source, bs)
                metas, batch = prepared
                logits = self._infer(batch) if batch is not None else None
                current: list[Future | ParseResult] = []
                j = 0
                for meta in metas:
                    if isinstance(meta, ParseResult):
                        current.append(meta)
                    else:
                        assert logits is not None, "a batch with images to finish was inferred"
                        current.append(post_pool.submit(self._finish, logits[j], *meta))
                        j += 1
                # The previous batch was post-processed while this one ran through the network.
                while ready:
                    yield _resolve(ready.popleft())
                ready.extend(current)
            while ready:
                yield _resolve(ready.popleft())
        finally:
            pending_pre.cancel()

    def close(self) -> None:
        for pool in (self._pre_pool, self._post_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pre_pool = self._post_pool = None
        self.model = None  # type: ignore[assignment]  # closed: no model from now on

    # ------------------------------------------------------------------ stages

    def _prepare(self, source: Iterator[np.ndarray], bs: int):
        """Pull up to ``bs`` images, warp each to the input square. None when the source is done."""
        metas: list[tuple[int, int] | ParseResult] = []
        warped = []
        for image in itertools.islice(source, bs):
            rgb = as_rgb(image)
            h, w = rgb.shape[:2]
            if h == 0 or w == 0:
                metas.append(ParseResult(None, "empty image"))
                continue
            warped.append(preprocess_rgb(rgb, self.input_size))
            metas.append((w, h))
        if not metas:
            return None
        if not warped:
            return metas, None
        batch = self._torch.from_numpy(np.stack(warped))  # B x n x n x 3 uint8, BGR
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        return metas, batch

    def _infer(self, batch):
        """B x n x n x 3 uint8 BGR (CPU) -> B x n x n x 7 logits on the CPU (float32 or float16)."""
        torch = self._torch
        F = torch.nn.functional
        n = self.input_size
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True)
            # NHWC uint8 -> NCHW float whose strides are already channels-last.
            x = x.permute(0, 3, 1, 2).float().div_(255.0).sub_(self._mean).div_(self._std)
            x = x.contiguous(memory_format=torch.channels_last if self.channels_last
                             else torch.contiguous_format)
            if self.half:
                with torch.autocast(device_type=self.device.type, dtype=torch.float16):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            up = F.interpolate(logits.float(), size=(n, n), mode="bilinear", align_corners=True)
            up = up.permute(0, 2, 3, 1)
            if self.device.type != "cpu":
                up = up.to(torch.float16) if self.half else up
                up = up.contiguous().cpu()
            else:
                up = up.contiguous()
        return up

    @staticmethod
    def _finish(logits_hwc, width: int, height: int) -> ParseResult:
        arr = logits_hwc.numpy()
        if arr.dtype != np.float32:
            arr = arr.astype(np.float32)
        labels = labels_from_logits(arr, width, height)
        if not labels.any():
            return ParseResult(None, NO_PERSON)
        return ParseResult(labels, "")

    def __repr__(self) -> str:
        return (f"SCHPParser(checkpoint={self.checkpoint!r}, device={str(self.device)!r}, "
                f"batch_size={self.batch_size}, input_size={self.input_size}, half={self.half}, "
                f"threads={self.threads})")


def _resolve(item):
    return item.result() if isinstance(item, Future) else item
