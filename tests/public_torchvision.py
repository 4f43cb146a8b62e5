"""torchvision's own ``ImageFolder`` (``torchvision/datasets/folder.py`` and ``vision.py``), imported as it is
from its public source, without installing torchvision. Test helper, not part of occreid.

torchvision does not install beside the CPU torch of the test set-up, and only its folder datasets are
needed: the two files are read from a torchvision wheel (``OCCREID_TORCHVISION_WHEEL``: the ``.whl``, or
a folder holding one, as ``pip download torchvision --no-deps`` leaves it; by default ``.venv/wheels``, where
``scripts/setup.sh --test`` puts it), or from a git mirror of
pytorch/vision (``$OCCREID_MIRRORS/pytorch+vision/repo``, a bare git directory, default ``/work/.mirror``).
The ``torchvision`` package and its ``utils`` are stand-ins holding the two names the files use
(``_log_api_usage_once``, and ``get_image_backend`` for the default image loader); ``torch`` is the real
one. :func:`load` returns the ``folder`` module, or the reason it cannot, for the tests to skip with.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

MIRRORS = Path(os.environ.get("OCCREID_MIRRORS", "/work/.mirror"))
# where ``scripts/setup.sh --test`` leaves the wheel (downloaded, never installed)
WHEELS = Path(__file__).resolve().parents[1] / ".venv" / "wheels"
FILES = ("torchvision/datasets/folder.py", "torchvision/datasets/vision.py")


def _from_wheel(spec: str, dst: Path) -> str | None:
    path = Path(spec)
    wheels = sorted(path.glob("torchvision-*.whl")) if path.is_dir() else [path]
    if not wheels or not wheels[-1].is_file():
        return f"OCCREID_TORCHVISION_WHEEL={spec} is not a torchvision wheel nor a folder holding one"
    try:
        with zipfile.ZipFile(wheels[-1]) as whl:
            for name in FILES:
                (dst / name).parent.mkdir(parents=True, exist_ok=True)
                (dst / name).write_bytes(whl.read(name))
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        return f"cannot read {FILES} from {wheels[-1]}: {exc}"
    return None


def _from_mirror(dst: Path) -> str | None:
    git_dir = MIRRORS / "pytorch+vision" / "repo"
    if not git_dir.is_dir():
        return (f"torchvision's source is not available (set OCCREID_TORCHVISION_WHEEL to a torchvision wheel, e.g. "
                f"from pip download torchvision --no-deps, or mirror pytorch/vision to {git_dir})")
    for name in FILES:
        try:
            data = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{name}"], check=True,
                                  capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"cannot read {name} from {git_dir}: {exc}"
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        (dst / name).write_bytes(data)
    return None


def forget() -> None:
    """Remove the stand-in torchvision and the loaded files from ``sys.modules`` (call at teardown)."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def load() -> types.ModuleType | str:
    """torchvision's real ``torchvision.datasets.folder`` (``ImageFolder``, ``find_classes``,
    ``make_dataset``...), importable as ``torchvision.datasets`` until :func:`forget`; or why not."""
    try:
        import torch.utils.data  # noqa: F401  (vision.py's VisionDataset is a torch Dataset)
    except ImportError:
        return "torchvision's datasets need torch"
    dst = Path(tempfile.mkdtemp(prefix="occreid-torchvision-"))
    spec = os.environ.get("OCCREID_TORCHVISION_WHEEL") or (str(WHEELS) if any(WHEELS.glob("torchvision-*.whl"))
                                                           else None)
    why = _from_wheel(spec, dst) if spec else _from_mirror(dst)
    if why:
        return why
    forget()
    top = types.ModuleType("torchvision")
    top.__path__ = [str(dst / "torchvision")]
    top.get_image_backend = lambda: "PIL"
    utils = types.ModuleType("torchvision.utils")
    utils._log_api_usage_once = lambda obj: None
    datasets = types.ModuleType("torchvision.datasets")
    datasets.__path__ = [str(dst / "torchvision" / "datasets")]
    sys.modules.update({"torchvision": top, "torchvision.utils": utils, "torchvision.datasets": datasets})
    top.utils, top.datasets = utils, datasets
    try:
        spec = importlib.util.spec_from_file_location("torchvision.datasets.folder", dst / FILES[0])
        folder = importlib.util.module_from_spec(spec)
        sys.modules["torchvision.datasets.folder"] = folder
        spec.loader.exec_module(folder)
    except Exception as exc:  # their code, their imports: any failure is a reason to skip
        forget()
        return f"torchvision's folder.py does not import here: {type(exc).__name__}: {exc}"
    for name in ("DatasetFolder", "ImageFolder", "find_classes", "make_dataset", "IMG_EXTENSIONS"):
        setattr(datasets, name, getattr(folder, name))
    return folder
