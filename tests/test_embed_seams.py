"""`embed` and `evaluate` at their seams, through the real runtimes (torch, ONNX Runtime): models exported for
another input size or a fixed batch, feature maps, failing forwards, hostile features files, and outputs that
cannot be written (a file in the way, inside the dataset, a full disk). Each ends in one sentence and the
README's exit code (2 configuration, 3 output), never a traceback, and never leaves a truncated file."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import shared_dataset
from datasets_fixtures import MARS_MINI, build_partial_reid

from occreid.cli import main

torch = pytest.importorskip("torch")
SRC = Path(__file__).resolve().parents[1] / "src"


class Mean(torch.nn.Module):
    """(N, 3, H, W) -> (N, 3 * W) features."""

    def forward(self, x):
        return x.mean(dim=2).flatten(1)


class Sized(torch.nn.Module):
    """A linear head that only fits 16 x 8 inputs, as a real backbone + classifier fits one size."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 16 * 8, 12)

    def forward(self, x):
        return self.fc(x.flatten(1))


class FeatureMap(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 2)  # (N, 3, H/2, W/2): no global pooling


class Raises(torch.nn.Module):
    def forward(self, x):
        if x.shape[0] > 0:
            raise RuntimeError("the head was never initialised")
        return x


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    if not MARS_MINI.is_dir():
        shared_dataset("mars-mini")
    return build_partial_reid(tmp_path_factory.mktemp("seams"))


def _script(module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(path))
    return path


def _export(module, path: Path, batch: int | None = 2) -> Path:
    dyn = None if batch else {"x": {0: torch.export.Dim("n")}}
    torch.export.save(torch.export.export(module, (torch.zeros(batch or 2, 3, 16, 8),), dynamic_shapes=dyn), str(path))
    return path


def _onnx(module, path: Path) -> Path:
    pytest.importorskip("onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(4, 3, 16, 8),), str(path), input_names=["images"], dynamo=False)
    return path


def _onnx_dynamo(module, path: Path) -> Path:
    """The export line of docs/datasets.md as written: torch.onnx.export's default (dynamo) exporter, a dynamic
    batch, the weights kept inside the file."""
    pytest.importorskip("onnxscript", reason="torch.onnx.export's default exporter needs onnxscript (occreid[onnx])")
    x = torch.zeros(2, 3, 16, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), input_names=["images"],
                          dynamic_shapes={"x": {0: torch.export.Dim("n")}}, external_data=False, verbose=False)
    return path


def _cli(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    text = " ".join(res.output.split())
    assert "Traceback" not in text and not isinstance(res.exception, (AssertionError, TypeError)), text
    return res.exit_code, text


def _embed(data, model, out, *extra):
    return _cli("embed", data, "--model", model, "--out", out, "--no-progress", *extra)


@pytest.mark.parametrize("kind", ["pt2", "onnx", "onnx-dynamo"])
def test_a_model_exported_for_another_size_names_the_size_it_expects(data, tmp_path, kind):
    export = {"pt2": lambda m, p: _export(m, p.with_suffix(".pt2"), None), "onnx": _onnx, "onnx-dynamo": _onnx_dynamo}
    model = export[kind](Mean(), tmp_path / "m.onnx")
    code, text = _embed(data, model, tmp_path / "f.npz", "--height", "32", "--width", "16")
    assert code == 2 and "exported for 16x8 inputs, not 32x16: pass --height 16 --width 8" in text
    assert not (tmp_path / "f.npz").exists()
    code, text = _embed(data, model, tmp_path / "f.npz", "--height", "16", "--width", "8")
    assert code == 0 and (tmp_path / "f.npz").is_file(), text


def test_a_torchscript_model_that_fails_on_the_size_says_so_in_one_sentence(data, tmp_path):
    model = _script(Sized(), tmp_path / "sized.pt")  # TorchScript declares no input size
    code, text = _embed(data, model, tmp_path / "f.npz", "--height", "32", "--width", "16")
    assert code == 2 and "the model failed on a batch of" in text and "3x32x16" in text and "--height" in text
    assert "(RuntimeError: mat1 and mat2" in text and text.count("error:") == 1 and "RuntimeError: Runtime" not in text


def test_a_static_batch_export_is_fed_batches_of_its_size(data, tmp_path):
    static = _export(Mean(), tmp_path / "static.pt2", batch=4)
    dynamic = _export(Mean(), tmp_path / "dynamic.pt2", batch=None)
    for model, out in ((static, "s.npz"), (dynamic, "d.npz")):
        code, text = _embed(data, model, tmp_path / out, "--height", "16", "--width", "8", "--batch-size", "7")
        assert code == 0, text
    a, b = np.load(tmp_path / "s.npz"), np.load(tmp_path / "d.npz")
    assert list(a["paths"]) == list(b["paths"]) and np.allclose(a["features"], b["features"], atol=1e-6)


def test_the_documented_dynamo_onnx_export_embeds_as_the_torchscript_model(data, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX models run in ONNX Runtime (occreid[onnx])")
    torch.manual_seed(0)
    sized = Sized().eval()  # weights: kept inside model.onnx, no model.onnx.data beside it
    onnx_model = _onnx_dynamo(sized, tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    script = _script(sized, tmp_path / "model.pt")
    for model, out in ((onnx_model, "o.npz"), (script, "t.npz")):  # batches of 7, 7 and 2: a dynamic batch
        code, text = _embed(data, model, tmp_path / out, "--height", "16", "--width", "8", "--batch-size", "7")
        assert code == 0, text
    a, b = np.load(tmp_path / "o.npz"), np.load(tmp_path / "t.npz")
    assert a["features"].shape == (16, 12) and list(a["paths"]) == list(b["paths"])
    np.testing.assert_allclose(a["features"], b["features"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("module, words", [(FeatureMap(), "feature map"), (Raises(), "never initialised")])
def test_feature_maps_and_failing_forwards_are_refused(data, tmp_path, module, words):
    code, text = _embed(data, _script(module, tmp_path / "m.pt"), tmp_path / "f.npz", "--height", "16",
                        "--width", "8")
    assert code == 2 and words in text and not (tmp_path / "f.npz").exists()


def _features(data, tmp_path) -> Path:
    code, text = _embed(data, _script(Mean(), tmp_path / "mean.pt"), tmp_path / "good.npz", "--height", "16",
                        "--width", "8")
    assert code == 0, text
    return tmp_path / "good.npz"


def test_npz_headers_are_read_before_any_data(data, tmp_path):
    good = _features(data, tmp_path)
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(huge, "w") as dst:
        dst.writestr("paths.npy", src.read("paths.npy"))
        with dst.open("features.npy", "w") as fh:  # a header declaring 2**20 x 2**20 float32 (4.4 TB), no data
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (1 << 20, 1 << 20)})
    code, text = _cli("evaluate", data, "-f", huge, "--no-progress")
    assert code == 2 and "declares a (1048576, 1048576) float32 array (4.4 TB)" in text
    odd = tmp_path / "odd.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(odd, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("notes.txt", b"hello")
    code, text = _cli("evaluate", data, "-f", odd, "--no-progress")
    assert code == 2 and "'notes.txt', which is not a .npy array" in text


def test_outputs_are_checked_before_any_work(data, tmp_path):
    good = _features(data, tmp_path)
    (tmp_path / "afile").write_text("x")
    code, text = _cli("evaluate", data, "-f", good, "--json", tmp_path / "afile" / "r.json", "--no-progress")
    assert code == 3 and "is a file, not a folder" in text
    code, text = _cli("evaluate", data, "-f", good, "--json", tmp_path / "new" / "deep" / "r.json", "--no-progress")
    assert code == 0 and (tmp_path / "new" / "deep" / "r.json").is_file(), text
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    code, text = _cli("evaluate", data, "-f", good, "--json", data / "r.json", "--no-progress")
    assert code == 2 and "lies inside the dataset" in text
    code, text = _embed(data, tmp_path / "mean.pt", data / "whole_body_images" / "f.npz", "--height", "16",
                        "--width", "8")
    assert code == 2 and "lies inside the dataset" in text
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written into the dataset


def _limited(args: list, limit: int) -> subprocess.CompletedProcess:
    """Run the CLI with a file size limit: writing past ``limit`` bytes fails with EFBIG, as a full disk does."""

    def cap():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", "from occreid.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, preexec_fn=cap, timeout=300)


def test_a_full_disk_leaves_no_truncated_file_and_exits_3(data, tmp_path):
    model = _script(Mean(), tmp_path / "mean.pt")
    out = tmp_path / "f.npz"
    out.write_bytes(b"what was there before")
    res = _limited(["embed", data, "--model", model, "--out", out, "--height", "16", "--width", "8",
                    "--no-progress"], 1024)
    assert res.returncode == 3 and "Traceback" not in res.stderr and "nothing was written" in res.stderr
    assert out.read_bytes() == b"what was there before" and sorted(tmp_path.iterdir()) == [out, model]
    (tmp_path / "g").mkdir()
    good = _features(data, tmp_path / "g")
    res = _limited(["evaluate", data, "-f", good, "--json", tmp_path / "r.json", "--no-progress"], 512)
    assert res.returncode == 3 and "Traceback" not in res.stderr and not (tmp_path / "r.json").exists()


def test_configuration_errors_exit_2(data, tmp_path):
    (tmp_path / "empty").mkdir()
    code, text = _embed(tmp_path / "empty", _script(Mean(), tmp_path / "m.pt"), tmp_path / "o" / "f.npz")
    assert code == 2 and "matches no known dataset layout" in text
    code, text = _cli("evaluate", tmp_path / "empty", "--no-progress")
    assert code == 2
