"""Evaluation: any model's features (or a weight-free baseline) on a dataset and its occluded twin.

- :mod:`.metrics`: CMC, mAP (CAL's definitions) and mINP (fast-reid's), vectorised and memory-aware,
  with a documented tie rule; :mod:`.distances` (cosine, squared Euclidean) and :mod:`.rerank`
  (k-reciprocal re-ranking).
- :mod:`.protocols`: every dataset's settings as its declaration in :mod:`occreid.datasets` states
  them (queries, galleries, good / junk rules, video tracklets, PRCC single-shot draws) and the
  features file (``paths`` relative to the dataset root, ``features`` N x D).
- :mod:`.descriptor`: the baseline colour-histogram-over-stripes descriptor.
- :mod:`.embed`: features from a TorchScript or ONNX model with CAL's test preprocessing.
- :mod:`.loaders`: CAL-style and torchreid-style sample lists, and torchreid registration;
  :mod:`.fastreid`: fast-reid registration.
- :mod:`.features`: the features ``.npz`` (headers checked before data); :mod:`.output`: output
  paths checked before work and written atomically.
- :mod:`.cli`: the ``embed`` and ``evaluate`` commands.
"""

from .descriptor import StripeHistogram, baseline_features
from .distances import CosineDistance, EuclideanDistance
from .embed import ModelError, Preprocess, embed_dataset, embed_images, load_model
from .fastreid import register_fastreid
from .loaders import CalLTCC, CalMarket1501, CalPRCC, ReIDDataset, register_torchreid
from .metrics import RANKS, Metrics, evaluate, evaluate_labels, label_masks
from .protocols import (
    FeatureError,
    FeatureTable,
    ProtocolError,
    Scoring,
    Setting,
    cal_single_shot_draws,
    evaluate_dataset,
    evaluate_setting,
    evaluation_records,
    settings,
    single_shot_draws,
    tracklet_features,
)
from .rerank import re_ranking

__all__ = [
    "StripeHistogram", "baseline_features",
    "ModelError", "Preprocess", "embed_dataset", "embed_images", "load_model",
    "CalLTCC", "CalPRCC", "CalMarket1501", "ReIDDataset", "register_torchreid", "register_fastreid",
    "RANKS", "CosineDistance", "EuclideanDistance", "Metrics", "evaluate", "evaluate_labels", "label_masks",
    "re_ranking", "FeatureError", "FeatureTable", "ProtocolError", "Scoring", "Setting", "evaluate_dataset",
    "evaluate_setting",
    "evaluation_records", "settings", "cal_single_shot_draws", "single_shot_draws", "tracklet_features",
]
