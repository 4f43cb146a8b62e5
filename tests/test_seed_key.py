"""One seed key for the generator and ``OccludeTransform``, and the transform in spawn / forkserver
DataLoader workers (issue 18, item 3)."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest
from conftest import shared_dataset
from PIL import Image

from occreid.augment import OccludeTransform
from occreid.occlusion import image_rng, relpath_rng, rng_key
from occreid.runner import GenerateConfig, generate

BOX = "parsers:BoxParser"
#: Names that are not valid UTF-8: Python sees them with surrogate escapes (os.fsdecode).
ODD = [b"caf\xe9_%d.png", b"\xff\xfe_%d.png", b"sub\xe8/x_%d.png", b"\xc3(_%d.png"]


def _odd_tree(root, crops, n_per_name=2):
    """Real crops copied under names that are not valid UTF-8 (and one plain name)."""
    names = []
    i = 0
    for pattern in ODD:
        for _ in range(n_per_name):
            name = os.fsdecode(pattern % i)
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(crops[i % len(crops)], root / name)
            names.append(name)
            i += 1
    shutil.copyfile(crops[0], root / "plain.png")
    return names + ["plain.png"]


def _crops(n=8):
    src = shared_dataset("ltcc-mini")  # PNG: the generator's output is lossless
    return sorted((src / "train").glob("*.png"))[:n]


def test_relpath_rng_is_the_generators_key_for_every_name():
    for name in (os.fsdecode(b"caf\xe9.png"), "plain/name.png", os.fsdecode(b"\xff.png")):
        expected = image_rng(7, rng_key(name)).integers(1 << 62, size=4)
        assert (relpath_rng(7, name).integers(1 << 62, size=4) == expected).all()
    odd = os.fsdecode(b"caf\xe9.png")
    assert rng_key(odd) == "caf\\xe9.png" and rng_key("é.png") == "é.png"


@pytest.mark.parametrize("preset", ["default", "hard"])
def test_transform_reproduces_generate_for_names_that_are_not_utf8(tmp_path, preset):
    from occreid.occlusion import preset_params

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    names = _odd_tree(data, _crops())
    result = generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, seed=11, save_parts=True,
                                     occlusion=preset_params(preset)))
    assert not [r for r in result.rows if r.status == "error"]
    transform = OccludeTransform.from_run(out)
    occluded = 0
    for name in names:
        written = np.asarray(Image.open(out / name).convert("RGB"))
        mine = np.asarray(transform.read(data / name))
        assert (mine == written).all(), os.fsencode(name)
        occluded += not (written == np.asarray(Image.open(data / name).convert("RGB"))).all()
    assert occluded >= len(names) - 1  # the box figure is occluded in every crop


def test_transform_pickles_with_a_snapshot_of_its_epoch(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    _odd_tree(data, _crops(2), n_per_name=1)
    generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, save_parts=True))
    transform = OccludeTransform(out, data, epoch=5)
    transform.read(data / "plain.png")
    transform.read(data / "plain.png")
    copy = pickle.loads(pickle.dumps(transform))
    assert copy.epoch == 5 and copy.missing == transform.missing
    copy.set_epoch(6)
    assert transform.epoch == 5  # a copy, not the shared value
    again = np.asarray(copy.read(data / "plain.png"))
    copy.set_epoch(5)
    assert (np.asarray(copy.read(data / "plain.png")) == np.asarray(transform.read(data / "plain.png"))).all()
    assert again.shape == np.asarray(transform.read(data / "plain.png")).shape


class CropSet:
    """A map-style dataset of image files, occluded by the transform (picklable: module level)."""

    def __init__(self, paths, transform):
        self.paths, self.transform = list(paths), transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return np.asarray(self.transform.read(self.paths[i])), i


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_transform_in_dataloader_workers_started_with(tmp_path, method):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    names = _odd_tree(data, _crops(4), n_per_name=1)
    generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, seed=3, save_parts=True))
    (data / "unparsed.png").write_bytes((data / "plain.png").read_bytes())  # no part map: counted as missing
    transform = OccludeTransform.from_run(out)
    paths = [data / n for n in names] + [data / "unparsed.png"]
    loader = DataLoader(CropSet(paths, transform), batch_size=None, num_workers=2, multiprocessing_context=method,
                        persistent_workers=True)
    for pixels, i in loader:
        written = np.asarray(Image.open(out / names[i]).convert("RGB")) if i < len(names) else \
            np.asarray(Image.open(paths[i]).convert("RGB"))
        assert (np.asarray(pixels) == written).all(), os.fsencode(str(paths[i]))
    assert transform.missing == 1  # counted in a worker, seen here
    transform.set_epoch(1)  # reaches the persistent workers
    redrawn = {int(i): np.asarray(p) for p, i in loader}
    differs = sum(not (redrawn[i] == np.asarray(Image.open(out / names[i]).convert("RGB"))).all()
                  for i in range(len(names)))
    assert differs >= 1 and transform.missing == 2
    assert isinstance(torch.__version__, str)


def test_a_person_preset_transform_with_its_donor_bank_pickles_and_draws_the_same(tmp_path):
    from occreid.occlusion import preset_params

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    names = _odd_tree(data, _crops(), n_per_name=2)
    generate(GenerateConfig(input=data, output=out, layout="folder", parser=BOX, seed=2,
                            occlusion=preset_params("person")))
    transform = OccludeTransform.from_run(out)
    copy = pickle.loads(pickle.dumps(transform))
    for name in names:
        written = np.asarray(Image.open(out / name).convert("RGB"))
        assert (np.asarray(copy.read(data / name)) == written).all(), os.fsencode(name)
