"""Labels for part-based occluded re-ID methods (``occreid labels``): BPBReID's part fields and KPR's
keypoint prompts, for a dataset and for its occluded twin (the truth after occlusion).

``formats`` holds the formats as pure NumPy, ``landmarks`` finds the pose landmarks, ``writer``
reads a dataset or a twin and writes the files, ``cli`` is the command. docs/labels.md has the facts.
"""

from .formats import COCO17, ISP6_CHANNELS, MEDIAPIPE_FOR_COCO17, coco17, kpr_skeletons, label_relpath, part_fields
from .writer import LabelsConfig, LabelsError, LabelsResult, write_labels

__all__ = [
    "COCO17", "ISP6_CHANNELS", "LabelsConfig", "LabelsError", "LabelsResult", "MEDIAPIPE_FOR_COCO17", "coco17",
    "kpr_skeletons", "label_relpath", "part_fields", "write_labels",
]
