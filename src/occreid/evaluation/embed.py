"""Features of a dataset's images from a user's model (TorchScript, torch.export or ONNX), CAL's test pipeline.

Each image is read as RGB, resized to ``height x width`` (bilinear, as torchvision's ``Resize`` on a
PIL image), scaled to [0, 1], normalised with ``mean`` / ``std``, and fed to the model; with
``flip`` (the default) the features of the image and of its horizontal mirror are summed, then
L2-normalised, exactly as CAL's ``extract_img_feature``. Defaults are CAL's: 384 x 192, ImageNet
mean and std.

Models: TorchScript (``torch.jit.save``), ``torch.export`` programs (``.pt2``) or ONNX (``.onnx``,
run by ONNX Runtime); each maps a float32 (N, 3, H, W) batch to (N, D) features.
torch and onnxruntime are optional: each is imported only when a model of its kind is loaded,
with an error that says what to install.
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
from .metrics import l2_normalize

#: CAL's test-time input size (DATA.HEIGHT x DATA.WIDTH) and ImageNet normalisation.
CAL_HEIGHT, CAL_WIDTH = 384, 192
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Model = Callable[[np.ndarray], np.ndarray]


class ModelError(RuntimeError):
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
        rgb = image.convert("RGB").resize((self.width, self.height), Image.BILINEAR)
        x = np.asarray(rgb, dtype=np.float32) / 255.0
        x = (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def _flatten_output(out, n: int) -> np.ndarray:
    arr = np.asarray(out, dtype=np.float32)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ModelError(f"the model returned shape {arr.shape} for a batch of {n}; expected ({n}, D)")
    return arr.reshape(n, -1)


def load_torchscript(path: str | Path, device: str = "cpu") -> Model:
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
    return _torch_runner(torch, module, device)


def load_torch_export(path: str | Path, device: str = "cpu") -> Model:
    """A ``torch.export`` program (``torch.export.save``, ``.pt2``) as a batch -> features function.

    Export it with a dynamic batch dimension (``dynamic_shapes={"x": {0: torch.export.Dim("n")}}``)
    to embed in batches of any size.
    """
    try:
        import torch
    except ImportError as e:
        raise ModelError("torch.export programs (.pt2) need PyTorch: pip install torch") from e
    try:
        module = torch.export.load(str(path)).module().to(device)
    except Exception as e:
        raise ModelError(f"cannot load {path} as a torch.export program ({type(e).__name__}: {e})") from e
    return _torch_runner(torch, module, device)


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


def load_onnx(path: str | Path, device: str = "cpu") -> Model:
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
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None

    def run(batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        if fixed is None or fixed == n:
            return _flatten_output(sess.run(None, {inp.name: batch})[0], n)
        outs = []
        for i in range(0, n, fixed):
            part = batch[i:i + fixed]
            k = part.shape[0]
            if k < fixed:
                part = np.concatenate([part, np.zeros((fixed - k,) + part.shape[1:], part.dtype)])
            outs.append(_flatten_output(sess.run(None, {inp.name: part})[0], fixed)[:k])
        return np.concatenate(outs)

    return run


def load_model(path: str | Path, device: str = "cpu") -> Model:
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

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for batch in pool.map(load, chunks):
            f = model(batch)
            if flip:
                f = f + model(np.ascontiguousarray(batch[..., ::-1]))
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


# -- the features file: which tree it was computed on --------------------------------------
def tree_fingerprint(root: str | Path, relpaths: Sequence[str]) -> str:
    """SHA-256 over the images' relative paths and the SHA-1 of their bytes: two trees with the same
    names but other pixels (a dataset and its occluded twin) get different fingerprints."""
    import hashlib

    h = hashlib.sha256()
    for rel in sorted(relpaths):
        with open(Path(root) / rel, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def save_features(path: str | Path, table, root: str | Path) -> None:
    """Write a features ``.npz``: ``paths``, ``features`` (float32), and the tree it was computed on:
    ``root`` (absolute) and ``tree_fingerprint`` (see :func:`tree_fingerprint`)."""
    np.savez(path, paths=np.array(table.paths, dtype=str), features=np.asarray(table.features, np.float32),
             root=np.array(str(Path(root).resolve())), tree_fingerprint=np.array(tree_fingerprint(root, table.paths)))


def load_features(path: str | Path, dataset: Dataset, allow_other_tree: bool = False):
    """Read and check a features ``.npz`` for ``dataset``; FeatureError with one sentence otherwise.

    Refused: an empty or unreadable file, a ``.npy`` or pickle, missing arrays, features that are not
    a real N x D array with N, D > 0, non-finite values, all-zero rows or every row the same (a model
    that returns nothing useful gives real-looking metrics otherwise), and, unless
    ``allow_other_tree``, features recorded as computed on another tree (a dataset's features
    given for its occluded twin). Absolute paths under the dataset's root are made relative.
    """
    import zipfile

    from .protocols import FeatureError, FeatureTable

    path = Path(path)
    if path.stat().st_size == 0:
        raise FeatureError(f"{path} is empty (0 bytes), not a features .npz.")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{path} is not a features .npz ({exc}).") from None
    if not hasattr(z, "files"):
        raise FeatureError(f"{path} holds a single array (a .npy file), not an .npz with 'paths' and 'features'.")
    try:
        with z:
            missing = [k for k in ("paths", "features") if k not in z.files]
            if missing:
                raise FeatureError(f"{path} lacks the array(s) {', '.join(missing)} "
                                   f"(it has: {', '.join(z.files) or 'nothing'}).")
            paths, feats = z["paths"], z["features"]
            root = str(z["root"]) if "root" in z.files else None
            recorded = str(z["tree_fingerprint"]) if "tree_fingerprint" in z.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FeatureError(f"{path} is damaged ({exc}).") from None
    real = np.issubdtype(feats.dtype, np.floating) or np.issubdtype(feats.dtype, np.integer)
    if np.iscomplexobj(feats) or not real:
        raise FeatureError(f"{path}: features must be real numbers, not {feats.dtype}.")
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        raise FeatureError(f"{path}: features must be an N x D array with N, D > 0, got shape {feats.shape}.")
    if paths.ndim != 1 or paths.shape[0] != feats.shape[0]:
        raise FeatureError(f"{path}: {paths.shape} paths for {feats.shape[0]} feature rows.")
    if not np.isfinite(feats).all():
        raise FeatureError(f"{path}: {int((~np.isfinite(feats).all(axis=1)).sum())} feature rows hold NaN or infinity.")
    zero = ~feats.any(axis=1)
    if zero.any():
        raise FeatureError(f"{path}: {int(zero.sum())} of {feats.shape[0]} feature rows are all zero.")
    if feats.shape[0] > 1 and (feats == feats[:1]).all():
        raise FeatureError(f"{path}: every feature row is the same vector; the model gives nothing to rank by.")
    base = Path(dataset.root).resolve()
    rels = []
    for p in (str(x) for x in paths):
        if Path(p).is_absolute() or (len(p) > 2 and p[1] == ":"):
            q = Path(p).resolve()
            if not q.is_relative_to(base):
                raise FeatureError(f"{path}: the absolute path {p} is not under the dataset root {base}.")
            p = q.relative_to(base).as_posix()
        rels.append(p)
    table = FeatureTable(rels, feats.astype(np.float32, copy=False))
    if recorded is not None and not allow_other_tree:
        table.check(dataset)
        if tree_fingerprint(dataset.root, table.paths) != recorded:
            raise FeatureError(f"{path} was computed on another tree ({root or 'unknown root'}), not on the images of "
                               f"{dataset.root} (same names, other bytes: the original and its occluded twin?); "
                               "embed this dataset, or pass --allow-other-tree to use them anyway.")
    return table
