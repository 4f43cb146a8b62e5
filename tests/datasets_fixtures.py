"""Build each dataset's exact layout from the real crops of ../shared/data/mars-mini, in a temporary folder,
and read it back the way its public loader does (written from the loaders' documented rules).

Every builder takes a destination folder and returns the dataset root. The crops are real pedestrians
(MARS tracklets); the labels a builder gives them (clothes, sessions, days) are synthetic but follow
each dataset's naming rules exactly, so the layouts are what the public loaders read.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from functools import lru_cache
from pathlib import Path

from conftest import DATA
from PIL import Image

MARS_MINI = DATA / "mars-mini"


@lru_cache(maxsize=1)
def people() -> list[list[list[Path]]]:
    """Per person of mars-mini's test split, their tracklets' frame paths (sorted)."""
    tracks: dict[str, dict[str, list[Path]]] = {}
    for path in sorted((MARS_MINI / "bbox_test").glob("*/*.jpg")):
        tracks.setdefault(path.parent.name, {}).setdefault(path.name[:11], []).append(path)
    return [list(t.values()) for _, t in sorted(tracks.items())]


def frame(person: int, tracklet: int = 0, index: int = 0) -> Path:
    t = people()[person][tracklet % len(people()[person])]
    return t[index % len(t)]


def put(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix in (".png", ".tif"):
        Image.open(src).save(dst)
    else:
        shutil.copyfile(src, dst)


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


# --- builders ---------------------------------------------------------------------------------


def build_ltcc(dst: Path) -> Path:
    """4 test ids (query c1 outfit 1; gallery c2 outfit 1, c3 and c1 outfit 2) and 2 train ids."""
    root = dst / "LTCC_ReID"
    for i in range(6):
        pid = 10 + i
        if i < 4:
            put(frame(i, 0, 0), root / "query" / f"{pid:03d}_1_c1_{i:06d}.png")
            put(frame(i, 0, 5), root / "test" / f"{pid:03d}_1_c2_{i:06d}.png")
            put(frame(i, 1, 0), root / "test" / f"{pid:03d}_2_c3_{i:06d}.png")
            put(frame(i, 1, 5), root / "test" / f"{pid:03d}_2_c1_{i + 10:06d}.png")
        else:
            put(frame(i, 0, 0), root / "train" / f"{pid:03d}_1_c1_{i:06d}.png")
            put(frame(i, 1, 0), root / "train" / f"{pid:03d}_2_c4_{i:06d}.png")
    write(root / "info" / "cloth-change_id_test.txt", ["10", "11", "12", "13"])
    return root


def build_duke(dst: Path) -> Path:
    root = dst / "DukeMTMC-reID"
    for i in range(6):
        pid = 5 + 2 * i
        if i < 4:
            put(frame(i, 0, 0), root / "query" / f"{pid:04d}_c1_f{1000 + i:07d}.jpg")
            put(frame(i, 1, 0), root / "bounding_box_test" / f"{pid:04d}_c2_f{2000 + i:07d}.jpg")
            put(frame(i, 2, 0), root / "bounding_box_test" / f"{pid:04d}_c8_f{3000 + i:07d}.jpg")
        else:
            put(frame(i, 0, 0), root / "bounding_box_train" / f"{pid:04d}_c3_f{4000 + i:07d}.jpg")
    return root


def build_msmt17(dst: Path) -> Path:
    """MSMT17_V1 under a ``msmt17`` folder, as torchreid expects; one train image is in no list."""
    root = dst / "msmt17"
    base = root / "MSMT17_V1"
    lists: dict[str, list[str]] = {"train": [], "val": [], "query": [], "gallery": []}

    def add(list_name: str, folder: str, person: int, pid: int, cam: int, k: int) -> None:
        rel = f"{pid:04d}/{pid:04d}_{k:03d}_{cam:02d}_0303morning_{k:04d}_0.jpg"
        put(frame(person, k, k), base / folder / rel)
        lists[list_name].append(f"{rel} {pid}")

    for i in range(4):
        add("query", "test", i, i, 1, 0)
        add("gallery", "test", i, i, 2, 1)
        add("gallery", "test", i, i, 15, 2)
    for i in range(4, 7):
        add("train", "train", i, i - 4, 3, 0)
        add("val" if i == 6 else "train", "train", i, i - 4, 5, 1)
    put(frame(7), base / "train" / "0009" / "0009_000_01_0303morning_0000_0.jpg")  # listed nowhere
    for name, lines in lists.items():
        write(base / f"list_{name}.txt", lines)
    return root


def build_mars(dst: Path, frames: int = 4) -> Path:
    """MARS with its info/ files (names, track info, query indices as torchreid reads them)."""
    from scipy.io import savemat

    root = dst / "MARS"
    names: dict[str, list[str]] = {"train": [], "test": []}
    tracks: dict[str, list[list[int]]] = {"train": [], "test": []}
    query_rows: list[int] = []
    for i in range(5):
        split = "train" if i == 4 else "test"
        pid = 10 + i
        for t in range(3):
            cam = (1, 2, 3)[t]
            folder = f"{pid:04d}"
            start = len(names[split]) + 1
            for f in range(frames):
                name = f"{folder}C{cam}T{t + 1:04d}F{f + 1:03d}.jpg"
                put(frame(i, t, 2 * f), root / f"bbox_{split}" / folder / name)
                names[split].append(name)
            tracks[split].append([start, len(names[split]), pid, cam])
            if split == "test" and t == 0:
                query_rows.append(len(tracks["test"]))  # 1-based, as in query_IDX.mat
    start = len(names["test"]) + 1  # a junk tracklet (person folder 00-1), ignored by torchreid
    for f in range(2):
        name = f"00-1C4T0001F{f + 1:03d}.jpg"
        put(frame(6, 0, f), root / "bbox_test" / "00-1" / name)
        names["test"].append(name)
    tracks["test"].append([start, len(names["test"]), -1, 4])
    write(root / "info" / "train_name.txt", names["train"])
    write(root / "info" / "test_name.txt", names["test"])
    savemat(root / "info" / "tracks_train_info.mat", {"track_train_info": tracks["train"]})
    savemat(root / "info" / "tracks_test_info.mat", {"track_test_info": tracks["test"]})
    savemat(root / "info" / "query_IDX.mat", {"query_IDX": query_rows})
    return root


def build_ccvid(dst: Path, frames: int = 4) -> Path:
    """CCVID: per test id a query tracklet (session1, camera 1, outfit u1) and gallery tracklets with the
    same outfit on camera 2 and another outfit in session3; lists as CAL reads them."""
    root = dst / "CCVID"
    lists: dict[str, list[str]] = {"train": [], "query": [], "gallery": []}

    def add(list_name: str, person: int, t: int, session: int, cam: int, clothes: str) -> None:
        pid = f"{person + 1:03d}"
        tracklet = f"session{session}/{pid}_{cam:02d}"
        for f in range(frames):
            put(frame(person, t, 3 * f), root / tracklet / f"{f + 1:05d}.jpg")
        lists[list_name].append(f"{tracklet}\t{pid}\t{clothes}")

    for i in range(4):
        add("query", i, 0, 1, 1, "u1_l1_s1_c1_a1")
        add("gallery", i, 1, 1, 2, "u1_l1_s1_c1_a1")
        add("gallery", i, 2, 3, 1, "u2_l2_s1_c1_a1")
    for i in range(4, 6):
        add("train", i, 0, 1, 3, "u1_l1_s1_c1_a1")
        add("train", i, 1, 2, 3, "u3_l1_s1_c1_a1")
    for name, lines in lists.items():
        write(root / f"{name}.txt", lines)
    return root


def build_vcclothes(dst: Path) -> Path:
    """Per test id one query and one gallery image on each of cameras 1-4; cameras 3 and 4 in other clothes."""
    root = dst / "VC-Clothes"
    for i in range(6):
        pid = i + 1
        for cam in (1, 2, 3, 4):
            clothes = 1 if cam in (1, 2) else 2
            if i < 4:
                put(frame(i, cam, 0), root / "query" / f"{pid:04d}-{cam:02d}-{clothes:02d}-{cam:04d}.jpg")
                put(frame(i, cam, 4), root / "gallery" / f"{pid:04d}-{cam:02d}-{clothes:02d}-{cam + 10:04d}.jpg")
            elif cam < 3:
                put(frame(i, cam, 0), root / "train" / f"{pid:04d}-{cam:02d}-{clothes:02d}-{cam:04d}.jpg")
    return root


def build_deepchange(dst: Path) -> Path:
    root = dst / "DeepChangeDataset"
    lists: dict[str, list[str]] = {f: [] for f in ("train-set", "val-set-query", "val-set-gallery", "test-set-query",
                                                  "test-set-gallery")}
    tracklet = 0

    def add(folder: str, person: int, pid: int, cam: int, day: int, t: int) -> None:
        nonlocal tracklet
        tracklet += 1
        for f in range(2):
            name = f"P{pid:04d}_C{cam}_D{day:02d}_H{9 + f}_T{tracklet:04d}_F{f:03d}.jpg"
            put(frame(person, t, 2 * f), root / folder / name)
            lists[folder].append(f"{name},{tracklet}")

    for part, people_ in (("val", (0, 1)), ("test", (2, 3, 4))):
        for i in people_:
            add(f"{part}-set-query", i, 100 + i, 1, 1, 0)
            add(f"{part}-set-gallery", i, 100 + i, 1, 2, 1)  # same camera, another tracklet: a true match
            add(f"{part}-set-gallery", i, 100 + i, 3, 5, 2)
    for i in (5, 6):
        add("train-set", i, 200 + i, 2, 1, 0)
        add("train-set", i, 200 + i, 4, 3, 1)
    for folder, lines in lists.items():
        write(root / f"{folder}-bbox.txt", lines)
    return root


def build_last(dst: Path) -> Path:
    root = dst / "last"
    for part, people_ in (("val", (0, 1)), ("test", (2, 3, 4))):
        for i in people_:
            pid = 1000 + i
            put(frame(i, 0, 0), root / part / "query" / f"{pid:06d}_000_0001_0.jpg")
            for k in (1, 2):
                put(frame(i, k, 0), root / part / "gallery" / f"{pid:06d}" / f"{pid:06d}_{k:03d}_0001_{k}.jpg")
    for i in (5, 6):
        pid = 10 + i
        for k in (0, 1):
            put(frame(i, k, 0), root / "train" / f"{pid:06d}" / f"{pid:06d}_{k:03d}_0002_{k}.jpg")
    return root


def build_celeb(dst: Path, light: bool = False) -> Path:
    root = dst / ("Celeb-reID-light" if light else "Celeb-reID")
    n = 0
    for i in range(6):
        pid = i + 1
        for k in range(3):
            n += 1
            split = "train" if i >= 4 else ("query" if k == 0 else "gallery")
            put(frame(i, k, 0), root / split / f"{pid}_{n}_0.jpg")
    return root


def build_occluded_duke(dst: Path) -> Path:
    """DukeMTMC-reID's layout under ``Occluded_Duke/``: 4 test ids (query c1; gallery c2, c8), 2 train ids."""
    return build_duke(dst / "data").rename(dst / "Occluded_Duke")


def build_occluded_reid(dst: Path) -> Path:
    """5 ids, 2 occluded (query) and 2 whole-body (gallery) .tif images each in person folders."""
    root = dst / "Occluded_REID"
    for i in range(5):
        pid = i + 1
        for k in (1, 2):
            put(frame(i, 0, k), root / "occluded_body_images" / f"{pid:03d}" / f"{pid:03d}_{k:02d}.tif")
            put(frame(i, 1, k), root / "whole_body_images" / f"{pid:03d}" / f"{pid:03d}_{k:02d}.tif")
    return root


def build_partial_reid(dst: Path) -> Path:
    """4 ids, 2 partial (query) and 2 whole-body (gallery) images each, flat folders."""
    root = dst / "Partial_REID"
    for i in range(4):
        pid = i + 1
        for k in (1, 2):
            put(frame(i, 0, k), root / "partial_body_images" / f"{pid:03d}_{k:02d}.jpg")
            put(frame(i, 1, k), root / "whole_body_images" / f"{pid:03d}_{k:02d}.jpg")
    return root


def build_p_duke(dst: Path) -> Path:
    """4 test ids (an occluded query, two whole-body gallery images each) and 2 train ids (both folders)."""
    root = dst / "P-DukeMTMC-reID"
    for i in range(6):
        pid = 20 + i
        part = "test" if i < 4 else "train"
        put(frame(i, 0, 0), root / part / "occluded_body_images" / f"{pid:04d}" / f"{pid:04d}_c1_f{i:07d}.jpg")
        for k in (1, 2):
            put(frame(i, k, 0), root / part / "whole_body_images" / f"{pid:04d}" / f"{pid:04d}_c{k + 1}_f{k:07d}.jpg")
    return root


BUILDERS = {
    "ltcc": build_ltcc, "duke": build_duke, "msmt17": build_msmt17, "mars": build_mars, "ccvid": build_ccvid,
    "vcclothes": build_vcclothes, "deepchange": build_deepchange, "last": build_last, "celeb": build_celeb,
    "celeb-light": lambda dst: build_celeb(dst, light=True),
    "occluded-duke": build_occluded_duke, "occluded-reid": build_occluded_reid, "partial-reid": build_partial_reid,
    "p-duke": build_p_duke,
}


# --- the public loaders' reading, from their documented rules ------------------------------------------
# Each returns sorted (relpath, split, pid, camera, clothes) tuples. Regexes that the public code runs on
# the full path run here on "/data/<root name>/<relpath>", so the test machine's own folders cannot leak in.


def _rel(root: Path, path: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _neutral(root: Path, path: str) -> str:
    return f"/data/{root.name}/{_rel(root, path)}"


def public_reading(name: str, root: Path) -> list[tuple]:
    root = Path(root)
    out: list[tuple] = []
    if name == "ltcc":  # CAL: glob *.png; (\d+)_(\d+)_c(\d+) and (\w+)_c on the full path
        for split in ("train", "query", "test"):
            for p in glob.glob(os.path.join(root, split, "*.png")):
                full = _neutral(root, p)
                pid, _, cam = map(int, re.search(r"(\d+)_(\d+)_c(\d+)", full).groups())
                out.append((_rel(root, p), split, pid, cam - 1, re.search(r"(\w+)_c", full).group(1)))
    elif name in ("market", "duke", "occluded-duke"):  # torchreid, TransReID: glob *.jpg; ([-\d]+)_c(\d), full path
        for split in ("bounding_box_train", "query", "bounding_box_test"):
            for p in glob.glob(os.path.join(root, split, "*.jpg")):
                pid, cam = map(int, re.search(r"([-\d]+)_c(\d)", _neutral(root, p)).groups())
                out.append((_rel(root, p), split, pid, cam - 1, None))
    elif name == "msmt17":  # torchreid: 'path pid' lines; camera = path.split('_')[2] - 1
        base = root / "MSMT17_V1"
        for split, folder in (("train", "train"), ("val", "train"), ("query", "test"), ("gallery", "test")):
            for line in open(base / f"list_{split}.txt"):
                path, pid = line.split(" ")
                out.append((_rel(root, str(base / folder / path)), split, int(pid), int(path.split("_")[2]) - 1, None))
    elif name == "mars":  # torchreid: names[start-1:end] per track row; folder = name[:4]; camera - 1
        from scipy.io import loadmat

        for split in ("train", "test"):
            names = [x.rstrip() for x in open(root / "info" / f"{split}_name.txt")]
            info = loadmat(str(root / "info" / f"tracks_{split}_info.mat"))[f"track_{split}_info"]
            for start, end, pid, cam in info.tolist():
                for n in names[start - 1:end]:
                    out.append((f"bbox_{split}/{n[:4]}/{n}", f"bbox_{split}", pid, cam - 1, None))
    elif name == "ccvid":  # CAL: 'tracklet pid clothes' lines, frames = glob(tracklet/*); session3 cams + 12
        for split in ("train", "query", "gallery"):
            for line in open(root / f"{split}.txt"):
                tracklet, pid, clothes = line.rstrip().split()
                cam = int(tracklet.split("_")[1]) + (12 if tracklet.split("/")[0] == "session3" else 0)
                for p in sorted(glob.glob(os.path.join(root, tracklet, "*"))):
                    out.append((_rel(root, p), split, int(pid), cam, f"{pid}_{clothes}"))
    elif name == "vcclothes":  # CAL: glob *.jpg; (\d+)-(\d+)-(\d+)-(\d+) on the full path; clothes = pid + clothes
        for split in ("train", "query", "gallery"):
            for p in glob.glob(os.path.join(root, split, "*.jpg")):
                pid, cam, clothes, _ = re.search(r"(\d+)-(\d+)-(\d+)-(\d+)", _neutral(root, p)).groups()
                out.append((_rel(root, p), split, int(pid), int(cam) - 1, pid + clothes))
    elif name == "deepchange":  # CAL: 'name,tracklet'; fields of name.split('.')[0].split('_')
        for folder in ("train-set", "val-set-query", "val-set-gallery", "test-set-query", "test-set-gallery"):
            for line in open(root / f"{folder}-bbox.txt"):
                img = line.rstrip()
                names = img.split(".")[0].split("_")
                out.append((f"{folder}/{img.split(',')[0]}", folder, int(names[0][1:]), int(names[1][1:]),
                            names[0] + names[2]))
    elif name == "last":  # CAL: train */*.jpg; query *.jpg; gallery */*.jpg; pid = basename field 0
        for folder, split in (("train", "train"), ("val/query", "val-query"), ("val/gallery", "val-gallery"),
                              ("test/query", "test-query"), ("test/gallery", "test-gallery")):
            pattern = "*.jpg" if "query" in folder else "*/*.jpg"
            for p in sorted(glob.glob(os.path.join(root, folder, pattern))):
                names = os.path.basename(p).split(".")[0].split("_")
                clothes = f"{names[0]}_{names[-1]}" if split == "train" else None
                out.append((_rel(root, p), split, int(names[0]), None, clothes))
    elif name in ("celeb", "celeb-light"):  # x_y_z.jpg, pid = x
        for split in ("train", "query", "gallery"):
            for p in glob.glob(os.path.join(root, split, "*.jpg")):
                pid, _ = map(int, re.search(r"([-\d]+)_(\d)", os.path.basename(p)).groups())
                out.append((_rel(root, p), split, pid, None, None))
    elif name in ("occluded-reid", "partial-reid"):  # BPBReID / PVPM: glob; pid = name.split('_')[0]; cam 0 / 1
        query, pattern = (("occluded_body_images", "*/*.tif") if name == "occluded-reid"
                          else ("partial_body_images", "*.jpg"))
        for folder, cam in ((query, 0), ("whole_body_images", 1)):
            for p in glob.glob(os.path.join(root, folder, pattern)):
                out.append((_rel(root, p), folder, int(p.split("/")[-1].split("_")[0]), cam, None))
    elif name == "p-duke":  # BPBReID / PVPM: */*.jpg per folder; occluded cam 0, whole-body cam 1
        for part in ("train", "test"):
            for folder, cam in (("whole_body_images", 1), ("occluded_body_images", 0)):
                for p in glob.glob(os.path.join(root, part, folder, "*", "*.jpg")):
                    out.append((_rel(root, p), part, int(p.split("/")[-1].split("_")[0]), cam, None))
    else:
        raise ValueError(name)
    return sorted(out)
