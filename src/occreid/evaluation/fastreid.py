"""Registering any layout occreid reads (an original or its occluded twin) as a fast-reid dataset.

fast-reid (JDAI-CV/fast-reid) finds datasets by class name in ``fastreid.data.datasets.DATASET_REGISTRY``
and builds them as ``cls(root=FASTREID_DATASETS, **kwargs)``. :func:`register_fastreid` registers a
``fastreid.data.datasets.bases.ImageDataset`` subclass named ``name`` whose lists are the dataset's,
in fast-reid's own form: training items ``(img_path, "<name>_<pid>", "<name>_<camid>")`` (fast-reid
prefixes training labels with the dataset name so that several training sets never share an
identity; its ``CommDataset`` relabels them), query and gallery items ``(img_path, pid, camid)``
with the loader's integer labels. ``_junk_pids`` are the declaration's (Market-1501: 0 and -1, as
fast-reid's own ``Market1501``), so ``combineall=True`` adds no distractor identity.

fast-reid is not a pip package: clone it and put it on ``PYTHONPATH`` (its data modules need
``tabulate`` and ``termcolor``). Then::

    from occreid.evaluation.fastreid import register_fastreid
    register_fastreid("OccMarket", "/data/occ_market")   # cfg.DATASETS.NAMES = ("OccMarket",)
"""

from __future__ import annotations

from pathlib import Path

from .loaders import ReIDDataset

FASTREID_INSTALL = ("register_fastreid needs fast-reid's source: git clone https://github.com/JDAI-CV/fast-reid.git "
                    "and put the clone on PYTHONPATH (with its requirements: pip install tabulate termcolor); "
                    "fast-reid is not installed from PyPI.")


def fastreid_lists(name: str, reid: ReIDDataset, prcc_query: str = "cloth-changing") -> tuple[list, list, list]:
    """(train, query, gallery) in fast-reid's form: training labels prefixed with ``name``."""
    train, query, gallery = reid.torchreid_lists(prcc_query)
    train = [(path, f"{name}_{pid}", f"{name}_{camid}") for path, pid, camid in train]
    return train, query, gallery


def register_fastreid(name: str, root: str | Path, layout: str | None = None, prcc_query: str = "cloth-changing"):
    """Register the dataset at ``root`` in fast-reid's ``DATASET_REGISTRY`` as the class ``name``; returns it.

    The ``root`` fast-reid passes when it builds the dataset is ignored (``root`` here is used).
    Image layouts only: fast-reid has no video datasets. ValueError if fast-reid already has a
    dataset of that name.
    """
    try:
        from fastreid.data.datasets import DATASET_REGISTRY
        from fastreid.data.datasets.bases import ImageDataset
    except ImportError as e:
        raise ImportError(FASTREID_INSTALL) from e
    data_root = Path(root)
    first = ReIDDataset(data_root, layout)  # fail now, not when fast-reid first builds the dataset
    if first.video:
        raise ValueError(f"{data_root} is a {first.layout} video dataset; fast-reid reads image datasets only")
    if name in getattr(DATASET_REGISTRY, "_obj_map", {}):
        raise ValueError(f"fast-reid already has a dataset named {name!r}; register this one under another name")

    class OccReIDFastReIDDataset(ImageDataset):
        dataset_dir = str(data_root)
        dataset_name = name
        _junk_pids = list(first.junk_pids)

        def __init__(self, root: str = "", **kwargs):
            train, query, gallery = fastreid_lists(name, ReIDDataset(data_root, layout), prcc_query)
            super().__init__(train, query, gallery, **kwargs)

    OccReIDFastReIDDataset.__name__ = OccReIDFastReIDDataset.__qualname__ = name
    OccReIDFastReIDDataset.__module__ = __name__
    DATASET_REGISTRY.register(OccReIDFastReIDDataset)
    return OccReIDFastReIDDataset
