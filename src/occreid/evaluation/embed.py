"""Features of a dataset's images from a user's model (TorchScript, torch.export or ONNX), CAL's test pipeline.

Each image is read as RGB, resized to ``height x width`` (bilinear, as torchvision's ``Resize`` on a
PIL image), scaled to [0, 1], normalised with ``mean`` / ``std``, and fed to the model; with
``flip`` (the default) the features of the image and of its horizontal mirror are summed, then
L2-normalised, exactly as CAL's ``extract_img_feature``. Defaults are CAL's: 384 x 192, ImageNet
mean and std.

Models: TorchScript (``torch.jit.save``), ``torch.export`` programs (``.pt2``) or ONNX (``.onnx``,
run by ONNX Runtime); each maps a float32 (N, 3, H, W) batch to (N, D) features. ONNX models and
torch.export programs declare their input size: one exported for another size than
``--height`` x ``--width`` is refused before the first image with a sentence naming the size it
expects, and one exported with a fixed batch is fed batches of that size (the last one padded).
A model that returns a feature map (N, C, H, W) instead of (N, D) features is refused (pool it in
the model: re-ID features are pooled vectors, and flattening a map would silently give 36,864-long
"features"); a model whose forward raises stops the run with its error in one sentence.
torch and onnxruntime are optional: each is imported only when a model of its kind is loaded,
with an error that says what to install. docs/datasets.md ("Exporting a model") shows the exports.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..datasets import Dataset, Record
from ..errors import OccreidError
from .features import load_features, save_features, tree_fingerprint  # noqa: F401  (re-exported)
from .metrics import l2_normalize

#: CAL's test-time input size (DATA.HEIGHT x DATA.WIDTH) and ImageNet normalisation.
CAL_HEIGHT, CAL_WIDTH = 384, 192
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Model = Callable[[np.ndarray], np.ndarray]


class LoadedModel:
    """A batch -> features function with the input it was exported for (None where not declared).

    ``input_size`` is (height, width) when the model fixes them; ``batch`` the fixed batch size.
    """

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], path: str | Path,
                 input_size: tuple[int, int] | None = None, batch: int | None = None):
        self._run, self.path, self.input_size, self.batch = run, str(path), input_size, batch

    def check(self, height: int, width: int) -> None:
        """ModelError when the model was exported for another input size than ``height`` x ``width``."""
        if self.input_size is not None and self.input_size != (height, width):
            h, w = self.input_size
            raise ModelError(f"{self.path} was exported for {h}x{w} inputs, not {height}x{width}: "
                             f"pass --height {h} --width {w}.")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        if self.batch is None or self.batch == n:
            return self._run(batch)
        outs = []
        for i in range(0, n, self.batch):
            part = batch[i:i + self.batch]
            k = part.shape[0]
            if k < self.batch:
                part = np.concatenate([part, np.zeros((self.batch - k,) + part.shape[1:], part.dtype)])
            outs.append(self._run(part)[:k])
        return np.concatenate(outs)


def _static(dims) -> tuple[int | None, tuple[int, int] | None]:
    """(fixed batch, (height, width)) from a declared (N, C, H, W) input shape; None where not fixed."""
    dims = list(dims) if dims is not None else []
    if len(dims) != 4:
        return None, None
    fixed = [d if isinstance(d, int) and d > 0 else None for d in dims]
    size = (fixed[2], fixed[3]) if fixed[2] is not None and fixed[3] is not None else None
    return fixed[0], size


class ModelError(OccreidError, RuntimeError):
    """The model cannot be loaded or run (missing runtime, bad file, unexpected output)."""


@dataclass(frozen=True)
class Preprocess:
    """Image -> (3, height, width) float32 array: resize, [0, 1] scale, per-channel normalisation."""

    height: int = CAL_HEIGHT
    width: int = CAL_WIDTH
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        if self.height < 1 or self.width < 1:
            raise ValueError(f"input size must be positive, got {self.height}x{self.width}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values (R, G, B)")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be positive, got {self.std}")

    def __call__(self, image: Image.Image | str | Path) -> np.ndarray:
        if not isinstance(image, Image.Image):
            with Image.open(image) as im:
                return self(im.convert("RGB"))
        rgb = image.convert("RGB").resize((self.width, self.height), Image.Resampling.BILINEAR)
        x = np.asarray(rgb, dtype=np.float32) / 255.0
        x = (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def _flatten_output(out, n: int) -> np.ndarray:
    arr = np.asarray(out, dtype=np.float32)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ModelError(f"the model returned shape {arr.shape} for a batch of {n}; expected ({n}, D)")
    if arr.ndim > 2 and any(d != 1 for d in arr.shape[2:]):
        raise ModelError(f"the model returned a feature map of shape {arr.shape}, not ({n}, D) features; end it "
                         "with global pooling (e.g. torch.nn.AdaptiveAvgPool2d(1) and flatten), as re-ID models do "
                         "at test time.")
    return arr.reshape(n, -1)


def load_torchscript(path: str | Path, device: str = "cpu") -> LoadedModel:
    """A TorchScript model (``torch.jit.save``) as a batch -> features function.

    A tuple or list output uses its first element; outputs are flattened to (N, D).
    """
    try:
        import torch
    except ImportError as e:
        raise ModelError("TorchScript models need PyTorch: pip install torch") from e
    try:
        with warnings.catch_warnings():  # recent torch marks torch.jit deprecated; the format still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device)
    except Exception as e:  # torch raises RuntimeError / ValueError variants
        raise ModelError(f"cannot load {path} as a TorchScript model ({type(e).__name__}: {e}). "
                         "Save it with torch.jit.script(model).save(...) or torch.jit.trace(...).save(...), "
                         "as a torch.export program (.pt2), or export it to ONNX (.onnx)") from e
    module.eval()
    return LoadedModel(_torch_runner(torch, module, device), path)


def load_torch_export(path: str | Path, device: str = "cpu") -> LoadedModel:
    """A ``torch.export`` program (``torch.export.save``, ``.pt2``) as a batch -> features function.

    Export it with a dynamic batch dimension (``dynamic_shapes={"x": {0: torch.export.Dim("n")}}``)
    to embed in batches of any size.
    """
    try:
        import torch
    except ImportError as e:
        raise ModelError("torch.export programs (.pt2) need PyTorch: pip install torch") from e
    try:
        program = torch.export.load(str(path))
        module = program.module().to(device)
    except Exception as e:
        raise ModelError(f"cannot load {path} as a torch.export program ({type(e).__name__}: {e})") from e
    inputs = set(program.graph_signature.user_inputs)
    shapes = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in inputs]
    shape = getattr(shapes[0], "shape", None) if shapes else None
    batch, size = _static([d if type(d) is int else None for d in shape] if shape is not None else None)
    return LoadedModel(_torch_runner(torch, module, device), path, size, batch)


def _torch_runner(torch, module, device: str) -> Model:
    """Wrap a torch module: a tuple or list output uses its first element; outputs are flattened."""

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(batch).to(device))
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ModelError(f"the model returned {type(out).__name__}; expected a tensor of features")
        return _flatten_output(out.detach().float().cpu().numpy(), batch.shape[0])

    return run


def load_onnx(path: str | Path, device: str = "cpu") -> LoadedModel:
    """An ONNX model as a batch -> features function, run by ONNX Runtime (first input, first output).

    A model exported with a fixed batch size is fed batches of that size (the last one padded).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ModelError("ONNX models need ONNX Runtime: pip install onnxruntime (or onnxruntime-gpu)") from e
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        sess = ort.InferenceSession(str(path), providers=providers)
    except Exception as e:
        raise ModelError(f"cannot load {path} as an ONNX model: {e}") from e
    inp = sess.get_inputs()[0]
    fixed, size = _static(inp.shape)

    def run(batch: np.ndarray) -> np.ndarray:
        return _flatten_output(sess.run(None, {inp.name: batch})[0], batch.shape[0])

    return LoadedModel(run, path, size, fixed)


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load ``path`` as ONNX (``.onnx``), a torch.export program (``.pt2``) or TorchScript (anything
    else: ``.pt``, ``.pth``, ``.ts``...)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return load_onnx(path, device)
    if suffix == ".pt2":
        return load_torch_export(path, device)
    return load_torchscript(path, device)


def embed_images(
    model: Model, paths: Sequence[str | Path], preprocess: Preprocess | None = None, batch_size: int = 64,
    flip: bool = True, workers: int = 4, progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """L2-normalised features (N x D float32) of image files; with ``flip`` the mirror's are added first.

    Images are decoded and preprocessed in ``workers`` threads, a batch ahead of the model.
    """
    preprocess = preprocess or Preprocess()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    chunks = [list(paths[i:i + batch_size]) for i in range(0, len(paths), batch_size)]
    feats: list[np.ndarray] = []

    def load(chunk):
        return np.stack([preprocess(p) for p in chunk])

    def forward(batch: np.ndarray) -> np.ndarray:
        try:
            return model(batch)
        except ModelError:
            raise
        except Exception as e:  # the user's model: any exception is its own failure, told in one sentence
            lines = [x.strip() for x in str(e).splitlines() if x.strip()]
            last = lines[-1] if lines else "no message"
            if not last.startswith(type(e).__name__ + ":"):  # TorchScript repeats the type on its last line
                last = f"{type(e).__name__}: {last}"
            n, _, h, w = batch.shape
            raise ModelError(f"the model failed on a batch of {n} images of 3x{h}x{w} ({last}); "
                             "was it exported for another input size "
                             "or a fixed batch? Pass the --height, --width and --batch-size it was exported "
                             "for.") from None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for batch in pool.map(load, chunks):
            f = forward(batch)
            if flip:
                f = f + forward(np.ascontiguousarray(batch[..., ::-1]))
            feats.append(l2_normalize(f.astype(np.float32)))
            if progress is not None:
                progress(len(batch))
    if not feats:
        return np.zeros((0, 0), dtype=np.float32)
    dims = {f.shape[1] for f in feats}
    if len(dims) != 1:
        raise ModelError(f"the model returned features of different lengths across batches: {sorted(dims)}")
    return np.concatenate(feats)


def embed_dataset(
    dataset: Dataset, model: Model, preprocess: Preprocess | None = None, batch_size: int = 64, flip: bool = True,
    all_images: bool = False, workers: int = 4, progress: Callable[[int], None] | None = None,
):
    """A :class:`~occreid.evaluation.protocols.FeatureTable` of the dataset's evaluation images
    (every query and gallery image; every image of any split with ``all_images``)."""
    from .protocols import FeatureTable, evaluation_records

    records: list[Record] = list(dataset.records) if all_images else evaluation_records(dataset)
    feats = embed_images(model, [Path(dataset.root) / r.relpath for r in records], preprocess, batch_size, flip,
                         workers, progress)
    return FeatureTable([r.relpath for r in records], feats)
