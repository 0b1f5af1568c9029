"""loop: weak supervision and active learning in one closed loop.

The public names are imported on first use (PEP 562), so an LF module's
``from loop import labeling_function`` does not pull in scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "ABSTAIN": "loop.core.lf",
    "LabelingFunction": "loop.core.lf",
    "Record": "loop.core.lf",
    "labeling_function": "loop.core.lf",
    "ApplyResult": "loop.core.apply",
    "apply_lfs": "loop.core.apply",
    "LabelModel": "loop.core.label_model",
    "MajorityVote": "loop.core.label_model",
    "LabelingLoop": "loop.core.labeling_loop",
    "Rule": "loop.core.rules",
    "read_rules": "loop.core.rule_files",
    "relation_text": "loop.core.relations",
    "AbstainSampler": "loop.core.sampling",
    "LFConflictSampler": "loop.core.sampling",
    "LoopSampler": "loop.core.sampling",
    "RandomSampler": "loop.core.sampling",
    "UncertaintySampler": "loop.core.sampling",
    "WeaSuLSampler": "loop.core.sampling",
}

if TYPE_CHECKING:
    from loop.core.apply import ApplyResult, apply_lfs
    from loop.core.label_model import LabelModel, MajorityVote
    from loop.core.labeling_loop import LabelingLoop
    from loop.core.lf import ABSTAIN, LabelingFunction, Record, labeling_function
    from loop.core.relations import relation_text
    from loop.core.rule_files import read_rules
    from loop.core.rules import Rule
    from loop.core.sampling import (
        AbstainSampler,
        LFConflictSampler,
        LoopSampler,
        RandomSampler,
        UncertaintySampler,
        WeaSuLSampler,
    )


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'loop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ABSTAIN",
    "AbstainSampler",
    "ApplyResult",
    "LFConflictSampler",
    "LabelModel",
    "LabelingLoop",
    "LabelingFunction",
    "LoopSampler",
    "MajorityVote",
    "RandomSampler",
    "Record",
    "Rule",
    "UncertaintySampler",
    "WeaSuLSampler",
    "apply_lfs",
    "labeling_function",
    "read_rules",
    "relation_text",
]
__version__ = "0.1.0"
