"""Array aliases used across the core.

``L`` is always an (n_items, n_lfs) integer matrix with ``-1`` for abstain;
``y`` an (n_items,) integer vector of gold classes with ``-1`` for unlabeled;
``proba`` an (n_items, n_classes) float matrix whose rows sum to one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

LabelMatrix = npt.NDArray[np.integer[Any]]
GoldVector = npt.NDArray[np.integer[Any]]
Proba = npt.NDArray[np.floating[Any]]
Indices = npt.NDArray[np.intp]

__all__ = ["LabelMatrix", "GoldVector", "Proba", "Indices"]
