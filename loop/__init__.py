"""loop: weak supervision and active learning in one closed loop."""

from loop.core.apply import ApplyResult, apply_lfs
from loop.core.label_model import LabelModel, MajorityVote
from loop.core.labeling_loop import LabelingLoop
from loop.core.lf import ABSTAIN, LabelingFunction, Record, labeling_function

__all__ = [
    "ABSTAIN",
    "ApplyResult",
    "LabelModel",
    "LabelingLoop",
    "LabelingFunction",
    "MajorityVote",
    "Record",
    "apply_lfs",
    "labeling_function",
]
__version__ = "0.1.0"
