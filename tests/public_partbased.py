"""BPBReID's and KPR's own dataset code, imported as it is from their public source, to load the
labels ``occreid labels`` writes. Test helper, not part of occreid.

Their ``torchreid`` forks are not installable packages here (and would pull in wandb, yacs and the
whole training stack), so only the modules that read labels are loaded, from a checkout named by
``OCCREID_BPBREID_SRC`` / ``OCCREID_KPR_SRC`` or from a fetched mirror (``/work/.mirror/VlSomers+
bpbreid/repo``, ``.../VlSomers+keypoint_promptable_reidentification/repo``, bare git directories):
``torchreid/utils/tools.py`` (``read_masks``, ``read_keypoints``), ``torchreid/data/datasets/dataset.py``
and the dataset classes (Market-1501, Occluded-Duke, Occluded-REID: ``infer_masks_path``,
``infer_kp_path``, ``process_dir``), the masks transforms and KPR's ``keypoints_to_masks``. The parent
packages are empty stand-ins, and when albumentations is not installed its ``DualTransform`` base class
is a stand-in too (the mask transforms' own ``apply_to_mask`` is what runs). ``load`` returns None with
the reason when the source is not there (CI), and the tests skip with it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

MIRRORS = Path(os.environ.get("OCCREID_MIRRORS", "/work/.mirror"))
SOURCES = {
    "bpbreid": ("OCCREID_BPBREID_SRC", "VlSomers+bpbreid"),
    "kpr": ("OCCREID_KPR_SRC", "VlSomers+keypoint_promptable_reidentification"),
}
FILES = {
    "bpbreid": [
        "torchreid/utils/constants.py", "torchreid/utils/tools.py", "torchreid/data/datasets/dataset.py",
        "torchreid/data/datasets/image/market1501.py", "torchreid/data/datasets/image/occluded_dukemtmc.py",
        "torchreid/data/datasets/image/occluded_reid.py", "torchreid/data/masks_transforms/mask_transform.py",
        "torchreid/data/masks_transforms/pifpaf_mask_transform.py",
    ],
    "kpr": [
        "torchreid/utils/constants.py", "torchreid/utils/imagetools.py", "torchreid/utils/tools.py",
        "torchreid/data/datasets/keypoints_to_masks.py", "torchreid/data/datasets/dataset.py",
        "torchreid/data/data_augmentation/__init__.py",
        "torchreid/data/data_augmentation/batch_wise_inter_person_occlusion.py",
        "torchreid/data/datasets/image/market1501.py", "torchreid/data/datasets/image/occluded_reid.py",
        "torchreid/data/masks_transforms/mask_transform.py",
    ],
}
_LOADED: dict[str, types.SimpleNamespace | str] = {}


def _source(name: str) -> Path | str:
    """A folder holding the files of ``FILES[name]`` (a checkout, or extracted from the mirror), or why not."""
    env, mirror = SOURCES[name]
    if os.environ.get(env):
        root = Path(os.environ[env])
        missing = [f for f in FILES[name] if not (root / f).is_file()]
        return root if not missing else f"{env}={root} lacks {missing[0]}"
    git_dir = MIRRORS / mirror / "repo"
    if not git_dir.is_dir():
        return f"{name}'s public source is not available (set {env} to a checkout, or fetch it to {git_dir})"
    out = Path(tempfile.mkdtemp(prefix=f"occreid-{name}-"))
    for f in FILES[name]:
        try:
            data = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"HEAD:{f}"], check=True,
                                  capture_output=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            return f"cannot read {f} from {git_dir}: {exc}"
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        (out / f).write_bytes(data)
    return out


def _package(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package: relative imports below it resolve
    sys.modules[name] = mod
    return mod


def _module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _albumentations_stand_in() -> None:
    """``albumentations.DualTransform`` for the mask transforms' base class, when albumentations is
    not installed: their ``apply_to_mask`` methods are called directly."""
    if "albumentations" in sys.modules or importlib.util.find_spec("albumentations") is not None:
        return
    alb = types.ModuleType("albumentations")

    class DualTransform:
        def __init__(self, always_apply=False, p=0.5):
            self.always_apply, self.p = always_apply, p

    alb.DualTransform = DualTransform
    sys.modules["albumentations"] = alb


def load(name: str) -> types.SimpleNamespace | str:
    """BPBReID's (``bpbreid``) or KPR's (``kpr``) label-reading modules, or why they cannot be loaded.

    Both forks name their package ``torchreid``: each load replaces the previous one's modules in
    ``sys.modules`` (the returned namespaces keep their own)."""
    if name in _LOADED:
        return _LOADED[name]
    root = _source(name)
    if isinstance(root, str):
        _LOADED[name] = root
        return root
    for key in [k for k in sys.modules if k == "torchreid" or k.startswith("torchreid.")]:
        del sys.modules[key]
    try:
        for pkg in ("torchreid", "torchreid.utils", "torchreid.data", "torchreid.data.datasets",
                    "torchreid.data.datasets.image", "torchreid.data.masks_transforms"):
            _package(pkg)
        _albumentations_stand_in()
        t = root / "torchreid"
        ns = types.SimpleNamespace(root=root)
        _module("torchreid.utils.constants", t / "utils/constants.py")
        if name == "kpr":
            _module("torchreid.utils.imagetools", t / "utils/imagetools.py")
            ns.keypoints_to_masks = _module("torchreid.data.datasets.keypoints_to_masks",
                                            t / "data/datasets/keypoints_to_masks.py")
        ns.tools = _module("torchreid.utils.tools", t / "utils/tools.py")
        utils = sys.modules["torchreid.utils"]
        for fn in ("read_masks", "read_image", "download_url", "mkdir_if_missing"):
            setattr(utils, fn, getattr(ns.tools, fn))
        if name == "kpr":
            _package("torchreid.data.data_augmentation")
            _module("torchreid.data.data_augmentation", t / "data/data_augmentation/__init__.py")
        ns.dataset = _module("torchreid.data.datasets.dataset", t / "data/datasets/dataset.py")
        ns.market1501 = _module("torchreid.data.datasets.image.market1501", t / "data/datasets/image/market1501.py")
        ns.occluded_reid = _module("torchreid.data.datasets.image.occluded_reid",
                                   t / "data/datasets/image/occluded_reid.py")
        if name == "bpbreid":
            ns.occluded_duke = _module("torchreid.data.datasets.image.occluded_dukemtmc",
                                       t / "data/datasets/image/occluded_dukemtmc.py")
        ns.mask_transform = _module("torchreid.data.masks_transforms.mask_transform",
                                    t / "data/masks_transforms/mask_transform.py")
        if name == "bpbreid":
            ns.pifpaf = _module("torchreid.data.masks_transforms.pifpaf_mask_transform",
                                t / "data/masks_transforms/pifpaf_mask_transform.py")
    except Exception as exc:  # their code, their dependencies: any failure is a reason to skip
        _LOADED[name] = f"{name}'s dataset code does not import here: {type(exc).__name__}: {exc}"
        return _LOADED[name]
    _LOADED[name] = ns
    return ns


def kpr_config(kp_dir: str, vis_thresh: float = 0.3):
    """The part of KPR's config (``default_config.py``, defaults) its dataset classes read."""
    ns = types.SimpleNamespace
    keypoints = ns(kp_dir=kp_dir, filter_out_no_skeletons=False, prompt_masks="keypoints_gaussian",
                   vis_thresh=vis_thresh, vis_continous=False, target_masks="none")
    return ns(model=ns(kpr=ns(keypoints=keypoints)), data=ns(query_list=[], width=128, height=256))
