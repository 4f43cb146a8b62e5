"""torchvision's ``ImageFolder`` on a ``folder``-layout output: ``OUT/_occreid`` is occreid's, not a class.

The checks of ``occreid.imagefolder`` alone run everywhere; those through torchvision's own
``ImageFolder`` / ``find_classes`` / ``make_dataset`` (``public_torchvision``, read from a torchvision
wheel or mirror, never installed) skip with the reason where that source is not available.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import public_torchvision
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid import imagefolder
from occreid.imagefolder import find_classes, imagefolder_note
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"
#: "_" sorts after capitals and before small letters: torchvision would put _occreid second, shifting the others.
CLASSES = ("Umbrella", "bag", "cyclist")


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """An ImageFolder tree of real crops (4 per class, one more image at the root, which ImageFolder ignores)
    and its occluded twins, with and without saved part maps."""
    crops = sorted((shared_dataset("market1501-mini") / "query").glob("*.jpg"))[:13]
    base = tmp_path_factory.mktemp("imagefolder")
    src = base / "in"
    for i, crop in enumerate(crops[:12]):
        (src / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(crop, src / CLASSES[i % 3] / crop.name)
    shutil.copyfile(crops[12], src / crops[12].name)
    out = {"in": src}
    for name, parts in (("parts", True), ("plain", False)):
        out[name] = base / name
        generate(GenerateConfig(input=src, output=out[name], parser=BOX, layout="folder", workers=1,
                                save_parts=parts))
    assert (out["parts"] / "_occreid" / "parts" / "bag").is_dir()  # part-map PNGs: images for ImageFolder
    return out


def _input_classes(root: Path) -> tuple[list[str], dict[str, int]]:
    names = sorted(p.name for p in root.iterdir() if p.is_dir())  # the rule torchvision documents, by hand
    return names, {n: i for i, n in enumerate(names)}


def test_find_classes_gives_the_inputs_classes_and_indices(trees):
    assert "_occreid" in os.listdir(trees["parts"])
    for name in ("parts", "plain"):
        assert find_classes(trees[name]) == _input_classes(trees["in"]) == (list(CLASSES), {"Umbrella": 0, "bag": 1,
                                                                                            "cyclist": 2})
    assert find_classes(str(trees["in"])) == _input_classes(trees["in"])


def test_find_classes_without_any_class_folder_raises_as_torchvisions_does(tmp_path):
    (tmp_path / "_occreid").mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        find_classes(tmp_path)


def test_the_note_is_for_folder_outputs_with_class_folders_only(trees, tmp_path):
    note = imagefolder_note(trees["parts"])
    assert note is not None and "ImageFolder" in note and "_occreid" in note and "\n" not in note
    assert "occreid.imagefolder.ImageFolder" in note
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(next((trees["in"] / "bag").iterdir()), flat / "a.jpg")
    generate(GenerateConfig(input=flat, output=tmp_path / "flat_out", parser=BOX, layout="folder", workers=1))
    assert imagefolder_note(tmp_path / "flat_out") is None  # images at the root only: no classes
    market = tmp_path / "Market-1501-v15.09.15"
    for split in ("bounding_box_train", "bounding_box_test", "query"):
        (market / split).mkdir(parents=True)
        for crop in sorted((shared_dataset("market1501-mini") / split).glob("*.jpg"))[:2]:
            shutil.copyfile(crop, market / split / crop.name)
    generate(GenerateConfig(input=market, output=tmp_path / "occ_market", parser=BOX, workers=1))
    assert imagefolder_note(tmp_path / "occ_market") is None  # split folders: ImageFolder goes one level down
    assert imagefolder_note(tmp_path / "nowhere") is None


def test_imagefolder_needs_torchvision_only_when_used(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torchvision", None)  # torchvision absent
    monkeypatch.delitem(imagefolder.__dict__, "ImageFolder", raising=False)
    with pytest.raises(ImportError, match="find_classes"):
        imagefolder.ImageFolder  # noqa: B018
    with pytest.raises(AttributeError):
        imagefolder.NoSuchName  # noqa: B018


@pytest.fixture
def torchvision():
    folder = public_torchvision.load()
    if isinstance(folder, str):
        pytest.skip(folder)
    imagefolder.__dict__.pop("ImageFolder", None)
    yield folder
    imagefolder.__dict__.pop("ImageFolder", None)
    public_torchvision.forget()


def _samples(ds, root: Path) -> list[tuple[str, int]]:
    return [(Path(path).relative_to(root).as_posix(), target) for path, target in ds.samples]


def test_torchvisions_imagefolder_takes_occreids_folder_for_a_class(trees, torchvision):
    """The defect, through torchvision's own code: what a user gets from ImageFolder(OUT)."""
    original = torchvision.ImageFolder(str(trees["in"]))
    assert original.classes == list(CLASSES)
    with_parts = torchvision.ImageFolder(str(trees["parts"]))
    assert with_parts.classes == ["Umbrella", "_occreid", "bag", "cyclist"]
    assert with_parts.class_to_idx["bag"] == original.class_to_idx["bag"] + 1  # every later class shifted
    assert len(with_parts) == len(original) + 13  # every part map (the root image's too) is a sample of _occreid
    with pytest.raises(FileNotFoundError, match="_occreid"):  # no image in _occreid: the whole tree refused
        torchvision.ImageFolder(str(trees["plain"]))


@pytest.mark.parametrize("name", ["parts", "plain"])
def test_occreids_imagefolder_gives_the_inputs_classes_and_samples(trees, torchvision, name):
    original = torchvision.ImageFolder(str(trees["in"]))
    ds = imagefolder.ImageFolder(str(trees[name]))
    assert isinstance(ds, torchvision.ImageFolder)
    assert (ds.classes, ds.class_to_idx) == (original.classes, original.class_to_idx)
    assert _samples(ds, trees[name]) == _samples(original, trees["in"]) and len(ds) == 12
    assert ds.targets == original.targets
    assert torchvision.find_classes(str(trees["in"])) == find_classes(trees[name])  # their function on the input
    image, target = ds[5]  # their default loader (PIL) reads the occluded crop
    path = trees["in"] / _samples(original, trees["in"])[5][0]
    assert target == original.targets[5] and image.size == Image.open(path).size
    again = pickle.loads(pickle.dumps(ds))  # DataLoader workers started with spawn pickle the dataset
    assert type(again) is type(ds) and again.samples == ds.samples

    class Own(torchvision.ImageFolder):  # the documented recipe without occreid's class
        find_classes = staticmethod(imagefolder.find_classes)

    assert Own(str(trees[name])).samples == ds.samples
    classes, index = find_classes(trees[name])
    made = torchvision.make_dataset(str(trees[name]), index, extensions=torchvision.IMG_EXTENSIONS)
    assert made == ds.samples and classes == original.classes


def test_generate_prints_the_note_for_a_folder_output_only(trees, tmp_path):
    """The user who would call ImageFolder(OUT) next reads how not to at the end of generate (merge
    prints the same line), and only for a folder output."""
    from harness import cli

    res = cli("generate", str(trees["in"]), "--out", str(tmp_path / "occ"), "--parser", BOX, "--layout", "folder",
              "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "occreid.imagefolder.ImageFolder" in " ".join(res.stdout.split())
    res = cli("generate", str(shared_dataset("market1501-mini")), "--out", str(tmp_path / "occ_market"),
              "--parser", BOX, "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "ImageFolder" not in res.stdout
