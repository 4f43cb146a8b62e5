"""Import the public re-ID codebases' own dataset code from their source, at test time.

Test helper, not part of occreid. torchreid (KaiyangZhou/deep-person-reid) and fast-reid
(JDAI-CV/fast-reid) are not in the test environment (neither is a pip package worth installing for
this), so the tests read their source from a git mirror: ``$OCCREID_MIRRORS/<owner>+<name>/repo``
(default ``/work/.mirror``, where the project's fetch tool puts them). Only the data modules are
imported, as they are; the package ``__init__`` files that would pull in models, training engines
and compiled extensions are replaced by empty packages, and display-only libraries that are not
installed (``tabulate``, ``termcolor``) by stand-ins. Each function skips the test with the reason
when the mirror is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

MIRRORS = Path(os.environ.get("OCCREID_MIRRORS", "/work/.mirror"))


def _extract(repo: str, paths: list[str], dst: Path) -> Path:
    git_dir = MIRRORS / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        pytest.skip(f"the source of {repo} is not mirrored at {git_dir} (set OCCREID_MIRRORS)")
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD", *paths], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"cannot read {paths} from the {repo} mirror: {archive.stderr.decode(errors='replace')[:200]}")
    dst.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive.stdout, check=True)
    return dst


def _package(name: str, path: Path) -> None:
    mod = types.ModuleType(name)
    mod.__path__ = [str(path)]
    sys.modules[name] = mod


def _stand_ins() -> None:
    for name, attr, fn in (("tabulate", "tabulate", lambda rows, **k: str(rows)),
                           ("termcolor", "colored", lambda text, *a, **k: text)):
        try:
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            setattr(mod, attr, fn)
            sys.modules[name] = mod


def _forget(prefix: str) -> None:
    for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
        del sys.modules[name]


def fastreid(tmp: Path, monkeypatch) -> types.SimpleNamespace:
    """fast-reid's real ``fastreid.data.datasets`` (registry, bases, every built-in dataset) and ``CommDataset``."""
    root = _extract("JDAI-CV/fast-reid", ["fastreid"], tmp / "fast-reid")
    _forget("fastreid")
    monkeypatch.syspath_prepend(str(root))
    _stand_ins()
    _package("fastreid.data", root / "fastreid" / "data")  # its __init__ builds loaders, transforms, samplers
    from fastreid.data.common import CommDataset
    from fastreid.data.datasets import DATASET_REGISTRY, Market1501
    from fastreid.data.datasets.bases import ImageDataset

    return types.SimpleNamespace(DATASET_REGISTRY=DATASET_REGISTRY, ImageDataset=ImageDataset,
                                 Market1501=Market1501, CommDataset=CommDataset)


def torchreid(tmp: Path) -> types.SimpleNamespace:
    """torchreid's real ``Dataset`` / ``ImageDataset`` / ``VideoDataset`` and its ``Market1501``, under a
    ``torchreid`` package whose ``data`` holds them and a registry like ``register_image_dataset``'s."""
    root = _extract("KaiyangZhou/deep-person-reid", ["torchreid/data/datasets/dataset.py",
                                                     "torchreid/data/datasets/image/market1501.py"],
                    tmp / "deep-person-reid")
    _forget("torchreid")
    _package("torchreid", root / "torchreid")
    utils = types.ModuleType("torchreid.utils")  # image reading and downloads: not used by the lists
    utils.read_image = utils.download_url = utils.mkdir_if_missing = lambda *a, **k: None
    sys.modules["torchreid.utils"] = utils
    _package("torchreid.data", root / "torchreid" / "data")
    _package("torchreid.data.datasets", root / "torchreid" / "data" / "datasets")
    _package("torchreid.data.datasets.image", root / "torchreid" / "data" / "datasets" / "image")
    from torchreid.data.datasets.dataset import ImageDataset, VideoDataset
    from torchreid.data.datasets.image.market1501 import Market1501

    registry: dict = {}
    data = sys.modules["torchreid.data"]
    data.ImageDataset, data.VideoDataset = ImageDataset, VideoDataset
    data.register_image_dataset = data.register_video_dataset = registry.__setitem__
    sys.modules["torchreid"].data = data
    return types.SimpleNamespace(ImageDataset=ImageDataset, Market1501=Market1501, registry=registry)


def forget() -> None:
    """Remove the imported public code from ``sys.modules`` (call at teardown)."""
    _forget("fastreid")
    _forget("torchreid")


def module(repo: str, path: str, tmp: Path) -> types.ModuleType:
    """One self-contained source file of ``repo`` (e.g. a metric or re-ranking module), imported as it is."""
    import importlib.util

    root = _extract(repo, [path], tmp / repo.replace("/", "+"))
    spec = importlib.util.spec_from_file_location(f"public_{Path(path).stem}", root / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
