"""``occreid labels``: BPBReID part fields and KPR keypoint prompts for a dataset or its occluded twin.

Where the labels come from, per image:

- parts: the part map a generate run saved (the twin's own ``_occreid/parts``, then ``--parts-from``),
  or the chosen parser run on the original image;
- keypoints: MediaPipe's landmarks found on the original image (``landmarks.LandmarkFinder``),
  mapped to COCO-17 (``formats.coco17``);
- for the occluded twin (a generate output, recognised by its ``_occreid/run.json``), the truth after
  occlusion: the occluder mask it saved (``--save-masks``) takes its pixels out of every body part
  and makes the keypoints under it invisible; a pasted person (``--preset person``) gives its own
  keypoints, moved to where it was pasted, as negative prompts.

Files (``formats`` says what is in them), every one written through ``OutputTree.write_bytes``::

    OUT/masks/<masks_dir>/<folder>/<stem><suffix>                          BPBReID (float32 C x H x W)
    OUT/external_annotation/<kp_dir>/<folder>/<stem>.jpg_keypoints.json    KPR (skeleton list)
    OUT/_occreid/labels.json                                               how they were made, counts

``<folder>`` is the image's parent folder's name, as their base ``Dataset`` names it, or the folder
their own class for the layout keeps (``formats.LOADER_PATHS``: Occluded-REID's split folder, with
KPR's ``.tif_keypoints.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import STATE_DIR, LayoutError, read_dataset
from ..errors import OccreidError
from ..images import MAX_FILE_BYTES, ImageError, decode
from ..inputs import read_input
from ..occlusion.functional import mask_box
from ..output import PARTS_DIR, mask_path, part_map_path, parts_dir, run_file
from ..saved import RunFileError, read_part_map, read_run_file
from ..status import Status
from ..writer import ManifestError, OutputError, OutputTree, read_manifest, write_json
from . import formats as F
from .pifpaf import PIFPAF_FIELDS, pifpaf_fields

#: The part-field formats (``--masks-format``) and the folder under ``masks/`` each goes to by default:
#: the ``masks_dirs`` names BPBReID's dataset classes declare for them.
MASKS_FORMATS = {"pifpaf": "pifpaf", "isp_6_parts": "isp_6_parts"}
#: The default folder under ``external_annotation/``.
KP_DIR = "occreid_mediapipe"


class LabelsError(OccreidError, ValueError):
    """A configuration that cannot give labels; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class LabelsConfig:
    """One ``occreid labels`` run (see the CLI's help for each option)."""

    dataset: Path
    output: Path
    layout: str | None = None
    parts_from: Path | None = None
    parser: str = "mediapipe"
    masks: bool = True
    keypoints: bool = True
    masks_format: str = "pifpaf"
    masks_dir: str | None = None  # None: the format's own name (MASKS_FORMATS)
    masks_suffix: str = F.MASKS_SUFFIX
    kp_dir: str = KP_DIR
    paths: str = "bpbreid"
    stride: int = 4
    negatives: bool = True


@dataclass
class LabelsResult:
    """What a run wrote, and the images it could not label (relpath, reason)."""

    images: int = 0
    masks: int = 0
    keypoint_files: int = 0
    with_skeleton: int = 0
    occluded: int = 0
    negatives: int = 0
    negatives_unknown: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    relpath: str
    occluded: bool = False
    shape: str = ""
    donor: str = ""


class _Sources:
    """Where one run reads from: the original pixels, saved part maps, the twin's occluder masks."""

    def __init__(self, cfg: LabelsConfig):
        root = Path(cfg.dataset)
        self.twin = run_file(root).is_file()
        self.root = root
        self.part_roots = [r for r in ((root if self.twin else None), cfg.parts_from) if r is not None]
        self.layout: str | None = None  # the layout whose loaders name the label files (formats.loader_paths)
        if self.twin:
            try:
                info = read_run_file(root)
            except RunFileError as exc:
                raise LabelsError(str(exc)) from None
            found = Path(info["input"]) if info.get("input") else None
            self.layout = info["fingerprint"].get("layout") or None
            if found is None or not found.is_dir():
                raise LabelsError(f"the twin's input folder {found} (from {run_file(root)}) is not "
                                  "there: labels are made from the original images, so it must be readable.")
            self.input: Path = found
            try:
                rows = read_manifest(root)
            except (ManifestError, FileNotFoundError) as exc:
                raise LabelsError(str(exc).rstrip(".") + ".") from None
            self.items = [_Item(r.relpath, r.status == Status.OCCLUDED, r.shape, r.donor) for r in rows]
        else:
            try:
                ds = read_dataset(root, cfg.layout)
            except LayoutError as exc:
                raise LabelsError(str(exc)) from None
            self.input = root
            self.layout = ds.layout
            self.items = [_Item(r.relpath) for r in ds.records]
        self.paths = F.loader_paths(self.layout)

    def pixels(self, relpath: str) -> np.ndarray:
        data, _ = read_input(self.input / relpath, MAX_FILE_BYTES)
        return np.asarray(decode(data).rgb)

    def saved_parts(self, relpath: str):
        """The saved part map (``SavedParts``) of an image, or None when no run saved one."""
        for root in self.part_roots:
            saved = read_part_map(part_map_path(root, relpath))
            if saved is not None:
                return saved
        return None

    def covered(self, relpath: str, shape: tuple[int, int]) -> np.ndarray:
        """The twin's occluder mask of an image (bool H x W)."""
        from PIL import Image

        path = mask_path(self.root, relpath)
        try:
            with Image.open(path) as im:
                mask = np.array(im.convert("1")).astype(bool)
        except (OSError, ValueError, SyntaxError):
            mask = None
        if mask is None or mask.shape != shape:
            raise ImageError(f"its occluder mask {path} is missing, damaged or not {shape[1]}x{shape[0]}")
        return mask


def _check(cfg: LabelsConfig, src: _Sources) -> None:
    """Everything that can be known before the first image: one sentence each."""
    if not (cfg.masks or cfg.keypoints):
        raise LabelsError("nothing to write: --no-masks and --no-keypoints together leave no labels.")
    if cfg.masks_format not in MASKS_FORMATS:
        raise LabelsError(f"--masks-format {cfg.masks_format!r} is not one of {', '.join(MASKS_FORMATS)}.")
    if cfg.paths not in F.PATH_RULES:
        raise LabelsError(f"--paths {cfg.paths!r} is not one of {', '.join(F.PATH_RULES)}.")
    if cfg.stride < 1:
        raise LabelsError(f"--stride {cfg.stride} must be at least 1.")
    for name, value in (("--masks-dir", _masks_dir(cfg)), ("--kp-dir", cfg.kp_dir)):
        if not value or "/" in value or value in (".", ".."):
            raise LabelsError(f"{name} {value!r} must be one folder name.")
    if not cfg.masks_suffix.endswith(".npy"):
        raise LabelsError(f"--masks-suffix {cfg.masks_suffix!r} must end in .npy (BPBReID loads it with np.load).")
    if cfg.parts_from is not None and not parts_dir(cfg.parts_from).is_dir():
        raise LabelsError(f"--parts-from {cfg.parts_from} holds no saved part maps ({STATE_DIR}/{PARTS_DIR}); "
                          "make them with generate --save-parts.")
    if not src.items:
        raise LabelsError(f"{cfg.dataset} holds no images to label.")
    if src.twin:
        missing = [i.relpath for i in src.items if i.occluded
                   and not mask_path(src.root, i.relpath).is_file()]
        if missing:
            raise LabelsError(f"{cfg.dataset} lacks the occluder masks of {len(missing)} occluded images (e.g. "
                              f"{missing[0]}): rerun its generate command with --save-masks.")
    out = Path(cfg.output).absolute()
    for rule_dir, suffix, on in (("masks", cfg.masks_suffix, cfg.masks), ("keypoints", src.paths.keypoints_suffix,
                                                                          cfg.keypoints)):
        if not on:
            continue
        seen: dict[str, str] = {}
        for item in src.items:
            rel = F.label_relpath(item.relpath, suffix, cfg.paths, src.paths.up)
            if rel in seen:
                raise LabelsError(f"{item.relpath} and {seen[rel]} would share the {rule_dir} file {rel} (BPBReID's "
                                  "rule keeps only one folder's name): use --paths mirror.")
            seen[rel] = item.relpath
    if out.exists() and not out.is_dir():
        raise LabelsError(f"--out {cfg.output} is a file, not a folder.")


def write_labels(cfg: LabelsConfig, progress: Callable | None = None, parser=None, finder=None) -> LabelsResult:
    """Write the labels of ``cfg.dataset`` under ``cfg.output``; LabelsError (configuration) before
    the first image, OutputError when the output cannot be written. ``parser`` / ``finder`` may be
    given (tests); otherwise they are built here, only when some image needs them."""
    src = _Sources(cfg)
    _check(cfg, src)
    need_parser = cfg.masks or (src.twin and cfg.negatives and cfg.keypoints)
    built = []
    if parser is None and need_parser and any(src.saved_parts(i.relpath) is None for i in src.items):
        parser = _build_parser(cfg.parser)
        built.append(parser)
    if finder is None and (cfg.keypoints or (cfg.masks and cfg.masks_format == "pifpaf")):
        finder = _build_finder()
        built.append(finder)
    tree = OutputTree(Path(cfg.output))
    result = LabelsResult()
    donors: dict[str, tuple] = {}
    try:
        if progress:
            progress(total=len(src.items))
        for item in src.items:
            try:
                _label_one(cfg, src, tree, item, parser, finder, donors, result)
            except ImageError as exc:
                result.failed.append((item.relpath, str(exc)))
            except OutputError:
                raise
            except OSError as exc:  # a name the output's file system refuses: this image's labels only
                result.failed.append((item.relpath, f"cannot write its labels: {exc.strerror or exc}"))
            if progress:
                progress(advance=1)
        write_json(tree, tree.state / "labels.json", _record(cfg, src, result))
    finally:
        for model in built:
            model.close()
        tree.clear_tmp()
        try:
            tree.tmp.rmdir()
        except OSError:
            pass
    return result


def _label_one(cfg, src: _Sources, tree: OutputTree, item: _Item, parser, finder, donors: dict,
               result: LabelsResult) -> None:
    rgb = src.pixels(item.relpath)
    shape = (rgb.shape[0], rgb.shape[1])
    covered = src.covered(item.relpath, shape) if item.occluded else None
    landmarks = _guarded(finder.find, rgb, "the pose model") if finder is not None else None
    target = None if landmarks is None else F.coco17(landmarks, shape, covered)
    if cfg.masks:
        parts = _parts(src, item.relpath, rgb, parser)
        if cfg.masks_format == "pifpaf":
            fields = pifpaf_fields(parts, target, shape, covered)
            fields = F.block_average(fields, cfg.stride) if cfg.stride > 1 else fields
        else:
            fields = F.part_fields(parts, shape, covered, cfg.stride)
        rel = F.label_relpath(item.relpath, cfg.masks_suffix, cfg.paths, src.paths.up)
        tree.write_bytes(tree.root / "masks" / _masks_dir(cfg) / rel, F.npy_bytes(fields))
        result.masks += 1
    if cfg.keypoints:
        negatives = []
        if target is not None and covered is not None and item.shape == "person" and item.donor and cfg.negatives:
            donor = _donor_keypoints(src, item.donor, parser, finder, donors)
            placed = mask_box(covered)
            move = None if donor is None or placed is None else F.paste_transform(donor[1], placed, shape, donor[2],
                                                                                   covered)
            if move is None:
                result.negatives_unknown += 1
            else:
                negatives.append(F.on_mask(F.moved(donor[0], move, shape), covered))
                result.negatives += 1
        result.with_skeleton += target is not None
        rel = F.label_relpath(item.relpath, src.paths.keypoints_suffix, cfg.paths, src.paths.up)
        body = json.dumps(F.kpr_skeletons(target, negatives)).encode("utf-8")
        tree.write_bytes(tree.root / "external_annotation" / cfg.kp_dir / rel, body)
        result.keypoint_files += 1
    result.images += 1
    result.occluded += covered is not None


def _parts(src: _Sources, relpath: str, rgb: np.ndarray, parser) -> np.ndarray | None:
    saved = src.saved_parts(relpath)
    parts = saved.parts if saved is not None else _guarded(parser.parse, rgb, "the parser").parts
    if parts is not None and parts.shape != rgb.shape[:2]:
        where = "its saved part map" if saved is not None else "the parser's part map"
        raise ImageError(f"{where} is {parts.shape[1]}x{parts.shape[0]}, the image {rgb.shape[1]}x{rgb.shape[0]}")
    return parts


def _guarded(call, rgb: np.ndarray, what: str):
    """A model's answer for one image; its failure (a plugin's bug, a size it refuses) is that image's
    failure, recorded with the reason, never a traceback."""
    try:
        return call(rgb)
    except Exception as exc:  # anything a model raises is this image's error
        raise ImageError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def _donor_keypoints(src: _Sources, relpath: str, parser, finder, cache: dict):
    """(COCO-17 keypoints in the donor's own image, box of its person pixels, those pixels) of a pasted person,
    or None when it shows no skeleton or no person; computed once per donor."""
    if relpath not in cache:
        try:
            rgb = src.pixels(relpath)
        except ImageError:
            cache[relpath] = None
            return None
        landmarks = _guarded(finder.find, rgb, "the pose model")
        parts = _parts(src, relpath, rgb, parser) if landmarks is not None else None
        box = None if parts is None else mask_box(parts != 0)
        cache[relpath] = None if box is None else (F.coco17(landmarks, (rgb.shape[0], rgb.shape[1])), box, parts != 0)
    return cache[relpath]


def _record(cfg: LabelsConfig, src: _Sources, result: LabelsResult) -> dict:
    """``labels.json``: the options, the formats' facts and the counts, for people and later tools."""
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    counts = {k: v for k, v in asdict(result).items() if k != "failed"}
    return {
        "options": options,
        "twin": src.twin,
        "layout": src.layout,
        "paths": {"rule": cfg.paths, "folder_up": src.paths.up},
        "bpbreid": _bpbreid_facts(cfg),
        "kpr": {"kp_dir": cfg.kp_dir, "suffix": src.paths.keypoints_suffix, "keypoints": list(F.COCO17),
                "mediapipe_landmarks": list(F.MEDIAPIPE_FOR_COCO17)},
        "counts": counts,
        "failed": [{"relpath": r, "reason": why} for r, why in result.failed],
    }


def _masks_dir(cfg: LabelsConfig) -> str:
    return cfg.masks_dir if cfg.masks_dir is not None else MASKS_FORMATS.get(cfg.masks_format, cfg.masks_format)


def _bpbreid_facts(cfg: LabelsConfig) -> dict:
    """What BPBReID's loader needs to know about the part fields written."""
    facts = {"format": cfg.masks_format, "masks_dir": _masks_dir(cfg), "suffix": cfg.masks_suffix,
             "dtype": "float32", "shape": "C x ceil(H / stride) x ceil(W / stride)", "stride": cfg.stride}
    if cfg.masks_format == "pifpaf":
        facts.update(masks_dirs_entry=[len(PIFPAF_FIELDS), False, cfg.masks_suffix], channels=list(PIFPAF_FIELDS))
    else:
        facts.update(masks_dirs_entry=[F.ISP6_PARTS_NUM, True, cfg.masks_suffix],
                     channels={name: [int(x) for x in labels] for name, labels in F.ISP6_CHANNELS.items()})
    return facts


def _build_parser(name: str):
    from ..parser import RegistryError, make_parser

    try:
        return make_parser(name)
    except RegistryError as exc:
        raise LabelsError(str(exc)) from None
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise LabelsError(f"the parser {name!r} cannot be built: {exc}") from None


def _build_finder():
    from .landmarks import LandmarkFinder

    try:
        return LandmarkFinder()
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise LabelsError(f"the pose landmark model cannot be loaded ({exc}); --masks-format isp_6_parts "
                          "--no-keypoints writes part masks without it.") from None
