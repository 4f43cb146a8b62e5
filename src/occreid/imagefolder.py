"""torchvision's ``ImageFolder`` on an occreid output: the class folders, without occreid's own ``_occreid``.

A ``folder``-layout output mirrors its input, and an input laid out for ``ImageFolder`` (one folder per
class at the root) gives an output laid out the same way, plus ``OUT/_occreid``, where occreid keeps
its run state, manifest and (``--save-parts`` / ``--save-masks``) part maps and masks: every file
occreid writes stays inside ``--out`` (``output.OutputTree``). torchvision's ``find_classes`` takes
every folder at the root for a class, hidden ones included, so ``ImageFolder(OUT)`` sees
``_occreid``: without an image in it, ``make_dataset`` refuses the whole tree (``FileNotFoundError``:
no valid file for the class ``_occreid``); with part maps (PNGs) it is one more class, sorted with the
others (``_`` after digits and capitals, before small letters), so every class sorted after it gets
another index than on the input.

torchvision's own way to choose the classes is to override ``DatasetFolder.find_classes``: this
module's :func:`find_classes` is torchvision's with ``_occreid`` left out, and :data:`ImageFolder`
(made on first use, so torchvision stays optional) is torchvision's ``ImageFolder`` with it. On an
output they give exactly the input's classes, indices and samples. Only the root's ``_occreid`` is
occreid's: a deeper folder of that name is an ordinary folder, as ``generate`` treats it.

Every other layout puts split folders at its root (``train``, ``query``, ``bbox_train``, ``rgb``,
``occluded_body_images``...), with the identity folders one level below, so ``ImageFolder`` over one
split folder (``OUT/bbox_train``) never meets ``_occreid``; :func:`imagefolder_note` says so to the
user of a ``folder`` output only.
"""

from __future__ import annotations

import os
from pathlib import Path

from .datasets import STATE_DIR, Folder
from .saved import RunFileError, read_run_file


def find_classes(directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """The class folders of ``directory`` and their indices, as torchvision's ``find_classes`` gives
    them (the folders at the root, sorted by name, numbered from 0; ``FileNotFoundError`` when there is
    none), without occreid's ``_occreid``: on an output, the same classes and indices as on its input.

    Give it to torchvision where it takes a ``find_classes`` (``DatasetFolder`` subclasses)::

        class OccImageFolder(torchvision.datasets.ImageFolder):
            find_classes = staticmethod(occreid.imagefolder.find_classes)
    """
    with os.scandir(Path(directory)) as entries:
        classes = sorted(entry.name for entry in entries if entry.is_dir() and entry.name != STATE_DIR)
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: index for index, name in enumerate(classes)}


def _image_folder_class() -> type:
    try:
        from torchvision.datasets import ImageFolder as TorchvisionImageFolder
    except ImportError as exc:
        raise ImportError("occreid.imagefolder.ImageFolder is torchvision's ImageFolder without _occreid: install "
                          "torchvision, or give occreid.imagefolder.find_classes to your own DatasetFolder") from exc

    class ImageFolder(TorchvisionImageFolder):
        """torchvision's ``ImageFolder``, with :func:`find_classes`: ``OUT/_occreid`` is not a class."""

        def find_classes(self, directory):
            return find_classes(directory)

    ImageFolder.__module__ = __name__  # pickled by name (DataLoader workers started with spawn)
    ImageFolder.__qualname__ = "ImageFolder"
    return ImageFolder


def __getattr__(name: str):
    """``ImageFolder``, made on first use: importing this module needs no torchvision."""
    if name == "ImageFolder":
        cls = _image_folder_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def imagefolder_note(output_root: str | os.PathLike) -> str | None:
    """One line for the user of a ``folder``-layout output with class folders at its root (where
    ``ImageFolder(OUT)`` is the natural next step), saying how to load it without ``_occreid``; None
    for any other output, or one whose ``run.json`` cannot be read."""
    root = Path(output_root)
    try:
        layout = read_run_file(root)["fingerprint"].get("layout")
    except (RunFileError, OSError):
        return None
    if layout != Folder.name:
        return None
    try:
        classes = [e.name for e in os.scandir(root) if e.is_dir() and e.name != STATE_DIR]
    except OSError:
        return None
    if not classes:
        return None
    return (f"torchvision's ImageFolder({root}) would take occreid's own folder {STATE_DIR} for a class: load the "
            f"output with occreid.imagefolder.ImageFolder (or give it occreid.imagefolder.find_classes) to get the "
            f"input's classes and indices")


__all__ = ["find_classes", "imagefolder_note"]
