"""``--engine ray`` on real local Ray clusters (each with a token of the test's own, started by the test and
stopped by it): the same bytes as ``--engine local``, whether occreid starts the cluster itself or
joins one started with ``ray start`` (``--ray-address``). Skipped, with the reason, without Ray.

Ray is never imported into the test process (its threads would make later forked workers unsafe):
every Ray run happens in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import shared_dataset, tree_digest

from occreid.engines import EngineError, _needs_gpu
from occreid.runner import GenerateConfig, generate

TESTS = Path(__file__).resolve().parent
BOX = "parsers:BoxParser"
RAY_CLI = Path(sys.executable).with_name("ray")

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'occreid[ray]')")


def _env() -> dict:
    """PYTHONPATH for the box parser (Ray workers inherit it), and a token of the test's own so
    nothing depends on ~/.ray."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCCREID_TEST_", "RAY_"))}
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)  # the code under test
    return env | {"PYTHONPATH": path, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                  "RAY_USAGE_STATS_ENABLED": "0"}


def _generate(src: Path, out: Path, *extra, env: dict) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "occreid.cli", "generate", str(src), "--out", str(out), "--parser",
                          BOX, "--no-progress", "--save-masks", "--engine", "ray", *map(str, extra)], env=env,
                         capture_output=True, text=True, timeout=240)
    assert "Traceback" not in res.stderr, res.stderr
    return res


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> tuple[Path, Path]:
    src = shared_dataset("ltcc-mini")
    out = tmp_path_factory.mktemp("local") / "out"
    generate(GenerateConfig(input=src, output=out, parser=BOX, workers=2, save_masks=True))
    return src, out


def _same(a: Path, b: Path) -> None:
    assert tree_digest(a) == tree_digest(b) and len(tree_digest(a)) == 416
    assert tree_digest(a / "_occreid/masks") == tree_digest(b / "_occreid/masks")
    for name in ("manifest.csv", "other_files.csv", "summary.json"):
        assert (a / "_occreid" / name).read_bytes() == (b / "_occreid" / name).read_bytes(), name


@needs_ray
def test_ray_engine_on_a_local_cluster_writes_the_local_engines_bytes(local_run, tmp_path_factory):
    src, local = local_run
    out = tmp_path_factory.mktemp("ray") / "out"  # a path without '_c': LTCC's loaders would warn about it
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # the cluster's logs and sockets, removed after it
    try:
        res = _generate(src, out, "-j", "2", env=_env() | {"RAY_TMPDIR": temp})
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert res.returncode == 0, res.stderr
    assert "all" in res.stdout and "416" in res.stdout  # the same summary table
    _same(local, out)


@needs_ray
def test_ray_engine_joins_a_cluster_started_with_ray_start(local_run, tmp_path_factory):
    src, local = local_run
    tmp_path = tmp_path_factory.mktemp("ray")  # a path without '_c': LTCC's loaders would warn about it
    env = _env()
    with socket.socket() as s:  # a free port on the loopback address for the head node
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    head = subprocess.Popen([str(RAY_CLI), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={port}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                             "--disable-usage-stats", f"--temp-dir={temp}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        seen = []
        for line in head.stdout:  # blocks until the head node says it runs (or the command ends)
            seen.append(line)
            if "Ray runtime started" in line:
                break
        assert head.poll() is None, "".join(seen)
        out = tmp_path / "ray"
        res = _generate(src, out, "--ray-address", f"127.0.0.1:{port}", env=env)
        assert res.returncode == 0, res.stderr
        _same(local, out)
        bad = _generate(src, tmp_path / "bad", "--ray-address", "127.0.0.1:1", env=env)
        assert bad.returncode == 2 and "cannot join the Ray cluster at 127.0.0.1:1" in bad.stderr
        assert not (tmp_path / "bad").exists()  # refused before anything was written
    finally:
        head.send_signal(signal.SIGTERM)  # ray start --block stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        head.stdout.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_schp_actors_ask_for_a_gpu_only_on_cuda_and_refuse_cuda_without_gpus():
    def cfg(parser="schp", device=None):
        options = {"checkpoint": "x.pth"} | ({"device": device} if device else {})
        return GenerateConfig(input=Path("in"), output=Path("out"), parser=parser, parser_options=options)

    gpus, cpus = {"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0}
    assert _needs_gpu(cfg(device="cuda"), gpus) and _needs_gpu(cfg(device="cuda:1"), gpus)
    assert _needs_gpu(cfg(), gpus) and not _needs_gpu(cfg(), cpus)  # default device: CUDA when the cluster has it
    assert not _needs_gpu(cfg(device="cpu"), gpus) and not _needs_gpu(cfg(parser=BOX), gpus)
    with pytest.raises(EngineError, match="needs GPUs in the Ray cluster"):
        _needs_gpu(cfg(device="cuda"), cpus)
