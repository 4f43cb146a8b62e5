"""Shards (``--shard I/N``): N independent processes into one output, merged, byte-identical to one
run; a shard killed with kill -9 and rerun resumes; shards made with other parameters or another N
are refused. Real Market-1501 crops, the box test parser (fast, known output)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_dataset, tree_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from occreid.runner import GenerateConfig, generate
from occreid.shards import parse_shard, shard_of
from occreid.writer import read_manifest

TESTS = Path(__file__).resolve().parent
BOX = "parsers:BoxParser"
EXPORTS = ("manifest.csv", "other_files.csv", "summary.json", "run.json")


def _env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)}
    for k in ("OCCREID_TEST_KILL_AFTER", "OCCREID_TEST_KILL_AT", "OCCREID_TEST_SIGINT_AFTER", "OCCREID_TEST_FILL_AT"):
        env.pop(k, None)
    return env | (extra or {})


def _args(src: Path, out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "occreid.cli", "generate", str(src), "--out", str(out), "--parser", BOX, "-j", "1",
            "--no-progress", "--save-parts", "--save-masks", *map(str, extra)]


def cli(*args, env=None) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "occreid.cli", *map(str, args)], env=_env(env), capture_output=True,
                         text=True, timeout=300)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def code(spec: str) -> int:
    """A shard's exit code on this tree: 1 for the shard that owns the broken link (an input that
    could not be used), 0 for the others."""
    i, n = map(int, spec.split("/"))
    return 1 if shard_of("notes/dangling.txt", n) == i else 0


def shard(src: Path, out: Path, spec: str, *extra, env=None) -> subprocess.CompletedProcess:
    res = subprocess.run(_args(src, out, "--shard", spec, *extra), env=_env(env), capture_output=True, text=True,
                         timeout=300)
    assert "Traceback" not in res.stderr, res.stderr
    return res


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    """Market-1501 crops plus files a layout copies or cannot read: names with a comma, quotes, a
    newline, bytes that are not UTF-8, and a broken symbolic link (all must round-trip the merge)."""
    src = tmp_path_factory.mktemp("shards") / "market"
    shutil.copytree(shared_dataset("market1501-mini"), src)
    notes = src / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("about the crops")
    (notes / 'odd, "quoted"\nname.txt').write_text("odd name")
    with open(os.path.join(os.fsencode(notes), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"latin-1 name")
    os.symlink("nowhere", notes / "dangling.txt")
    return src


@pytest.fixture(scope="module")
def whole(market, tmp_path_factory) -> Path:
    """One unsharded run: what the shards must reproduce."""
    out = tmp_path_factory.mktemp("whole") / "out"
    generate(GenerateConfig(input=market, output=out, parser=BOX, workers=1, save_parts=True, save_masks=True))
    return out


def assert_same_output(a: Path, b: Path) -> None:
    """Same mirrored tree, part maps and masks, and the same exported files, byte for byte."""
    assert tree_digest(a) == tree_digest(b)
    for side in ("parts", "masks"):
        assert tree_digest(a / "_occreid" / side) == tree_digest(b / "_occreid" / side)
        assert tree_digest(a / "_occreid" / side)
    for name in EXPORTS:
        assert (a / "_occreid" / name).read_bytes() == (b / "_occreid" / name).read_bytes(), name


def test_two_shards_run_concurrently_into_one_output_and_merge_to_a_single_runs_bytes(market, whole, tmp_path):
    out = tmp_path / "out"
    procs = [subprocess.Popen(_args(market, out, "--shard", f"{i}/2"), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for i, (_stdout, stderr, returncode) in enumerate(results):
        assert returncode == code(f"{i}/2"), stderr  # the broken link is an input that could not be used
        assert "Traceback" not in stderr
    assert sum("merged" in stdout for stdout, _, _ in results) >= 1  # the last to finish merged
    assert_same_output(whole, out)
    rows = [len((out / f"_occreid/shards/{i}-of-2/manifest.csv").read_text().splitlines()) - 1 for i in range(2)]
    assert min(rows) > 0 and sum(rows) == 96  # both shards had work, and together all of it
    other = (out / "_occreid/other_files.csv").read_bytes()
    assert b'"notes/odd, ""quoted""\nname.txt"' in other and b"caf\xe9.txt" in other and b"dangling.txt" in other
    again = cli("merge", out)  # merging again is harmless: the same bytes
    assert again.returncode == 1 and "96" in again.stdout
    assert_same_output(whole, out)


def test_a_shard_killed_with_kill_9_resumes_and_the_merge_waits_for_it(market, whole, tmp_path):
    out = tmp_path / "out"
    killed = shard(market, out, "0/2", env={"OCCREID_TEST_KILL_AFTER": "20"})
    assert killed.returncode == -9
    assert not (out / "_occreid/shards/0-of-2/done.json").exists()
    other = shard(market, out, "1/2")
    assert other.returncode == code("1/2") and "waiting for 1 of 2 (0/2)" in other.stdout
    assert not (out / "_occreid/manifest.csv").exists()
    early = cli("merge", out)
    assert early.returncode == 2 and "1 of 2 shards" in early.stderr and "0/2" in early.stderr
    resumed = shard(market, out, "0/2")
    assert resumed.returncode == code("0/2"), resumed.stderr
    done = re.search(r"resumed: (\d+) images were already done", resumed.stdout)
    assert done and 0 < int(done.group(1)) < 20 and "merged" in resumed.stdout
    assert_same_output(whole, out)
    assert not any((out / "_occreid/shards/0-of-2/tmp").iterdir())


def test_the_last_shard_killed_before_merging_leaves_the_merge_to_occreid_merge(market, whole, tmp_path):
    out = tmp_path / "out"
    assert shard(market, out, "0/2").returncode == code("0/2")
    killed = shard(market, out, "1/2", env={"OCCREID_TEST_KILL_AT": "after-shard"})
    assert killed.returncode == -9 and not (out / "_occreid/manifest.csv").exists()
    merged = cli("merge", out)
    assert merged.returncode == 1 and "2 shards" in merged.stdout  # 1: the broken link, as in the single run
    assert_same_output(whole, out)


def test_shards_with_other_parameters_or_another_n_are_refused(market, tmp_path):
    out = tmp_path / "out"
    assert shard(market, out, "0/2", "--seed", "1").returncode == code("0/2")
    for spec, extra, words in (("1/2", ("--seed", "2"), ("shard 0/2", "seed: was 1, now 2")),
                               ("0/3", ("--seed", "1"), ("split 2 ways", "--shard I/2"))):
        res = shard(market, out, spec, *extra)
        assert res.returncode == 2
        message = res.stderr.strip()
        assert message.startswith("error: ") and len(message.splitlines()) <= 3, message  # one sentence, wrapped
        for w in words:
            assert w in " ".join(message.split()), message
    assert not (out / "_occreid/shards/0-of-3").exists()
    unsharded = cli("generate", market, "--out", out, "--parser", BOX, "-j", "1", "--no-progress", "--seed", "1")
    assert unsharded.returncode == 2 and "made by shards" in unsharded.stderr
    # a rerun of the finished shard with the same options resumes everything
    again = shard(market, out, "0/2", "--seed", "1")
    assert again.returncode == code("0/2") and "waiting for 1 of 2" in again.stdout
    assert "resumed: " in again.stdout
    # other parameters with --overwrite: each shard starts over; no merge mixes the two seeds
    assert shard(market, out, "1/2", "--seed", "1").returncode == code("1/2")  # seed 1 complete and merged
    first = shard(market, out, "0/2", "--seed", "2", "--overwrite")
    assert first.returncode == code("0/2") and "waiting for 1 of 2 (1/2)" in first.stdout
    mixed = cli("merge", out)
    assert mixed.returncode == 2 and "other parameters" in mixed.stderr
    last = shard(market, out, "1/2", "--seed", "2", "--overwrite")
    assert last.returncode == code("1/2") and "merged" in last.stdout
    rows = read_manifest(out)
    assert len(rows) == 96 and {r.seed for r in rows} == {2}


def test_merge_refuses_a_shard_whose_files_were_edited_and_an_output_without_shards(market, whole, tmp_path):
    out = tmp_path / "out"
    for i in range(2):
        assert shard(market, out, f"{i}/2").returncode == code(f"{i}/2")
    part = out / "_occreid/shards/1-of-2/manifest.csv"
    part.write_bytes(part.read_bytes().replace(b"occluded", b"no_person", 1))
    res = cli("merge", out)
    assert res.returncode == 2 and "does not match what shard 1/2 wrote" in " ".join(res.stderr.split())
    assert cli("merge", whole).returncode == 2
    rerun = shard(market, out, "1/2")  # its own rows verify, it rewrites its share and merges again
    assert rerun.returncode == code("1/2") and "merged" in rerun.stdout
    assert_same_output(whole, out)


def test_a_shard_refuses_an_unsharded_output_and_pasted_shapes_without_every_part_map(market, whole, tmp_path):
    res = shard(market, whole, "0/2")
    assert res.returncode == 2 and "without --shard" in res.stderr
    res = shard(market, tmp_path / "p", "0/2", "--shape", "person")
    assert res.returncode == 2 and "--parts-from" in res.stderr


def test_donor_shapes_shard_from_saved_part_maps_to_a_single_runs_bytes(market, whole, tmp_path):
    single = tmp_path / "single"
    generate(GenerateConfig(input=market, output=single, parser=BOX, workers=1, parts_from=whole,
                            occlusion=_person()))
    out = tmp_path / "out"
    for i in range(2):
        res = shard(market, out, f"{i}/2", "--shape", "person", "--parts-from", whole)
        assert res.returncode == code(f"{i}/2"), res.stderr
    assert tree_digest(single) == tree_digest(out)
    assert (single / "_occreid/manifest.csv").read_bytes() == (out / "_occreid/manifest.csv").read_bytes()
    assert b",person," in (out / "_occreid/manifest.csv").read_bytes()


def _person():
    from occreid.occlusion import preset_params

    return preset_params("default", shape="person")


@settings(max_examples=50, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=30).filter(lambda s: "\0" not in s), min_size=1, max_size=40,
                      unique=True), extra=st.lists(st.text(min_size=1, max_size=30), max_size=10),
       n=st.integers(1, 9))
def test_a_paths_shard_depends_on_its_path_alone(names, extra, n):
    before = {p: shard_of(p, n) for p in names}
    after = {p: shard_of(p, n) for p in names + extra}  # files added elsewhere in the tree
    assert all(after[p] == s for p, s in before.items())
    assert all(0 <= s < n for s in after.values())


def test_paths_spread_evenly_over_shards_and_the_spec_is_checked():
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"bbox_train/{i:04d}/{i:04d}C1T0001F001.jpg", 4)] += 1
    assert max(counts) - min(counts) < 200
    assert shard_of(os.fsdecode(b"caf\xe9.jpg"), 3) in (0, 1, 2)
    assert (parse_shard("1/4").index, parse_shard(" 1 / 4 ").count) == (1, 4)
    for bad in ("4/4", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)


def test_shard_option_errors_exit_2(market, tmp_path):
    res = cli("generate", market, "--out", tmp_path / "o", "--parser", BOX, "--shard", "2/2")
    assert res.returncode == 2 and "--shard" in res.stderr
    res = cli("generate", market, "--out", tmp_path / "o", "--parser", BOX, "--ray-address", "127.0.0.1:1")
    assert res.returncode == 2 and "--engine ray" in res.stderr
