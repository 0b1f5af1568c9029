"""Per-LF analysis: polarity, coverage, overlaps, conflicts, and accuracy.

:func:`lf_summary` returns plain dicts (for the API); :func:`lf_summary_frame`
the same as a pandas DataFrame (pandas is imported only there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from loop.core.types import LabelMatrix
from loop.core.validation import check_gold, check_label_matrix


def lf_summary(
    L: LabelMatrix,
    names: Sequence[Any] | None = None,
    y: Any = None,
    learned_accuracy: Any = None,
    errors: Mapping[str, Any] | None = None,
    random_gold: Any = None,
) -> list[dict[str, Any]]:
    """One dict per LF.

    ``names``: the LFs' names, or the LFs (or rules) themselves. Keys: ``name``,
    ``polarity`` (sorted classes it votes), ``coverage``,
    ``overlaps`` and ``conflicts`` (share of items where it votes and another LF
    votes / votes differently); with gold ``y`` (-1 = unknown): ``correct``,
    ``incorrect`` and ``empirical_accuracy`` (None without gold on its votes);
    ``learned_accuracy`` from the label model; ``errors``: how many items it raised on
    or returned a bad vote for (``errors`` as :func:`~loop.core.apply.apply_lfs`
    returns them, or counts by LF name);
    with ``random_gold`` (a mask of the gold rows drawn at random, which an
    active-learning sampler's picks are not): ``random_correct`` and
    ``random_incorrect``, the same counts on those rows only.

    >>> L = np.array([[0, 0], [1, 0], [-1, 1]])
    >>> [r["conflicts"] for r in lf_summary(L, ["a", "b"])]
    [0.3333333333333333, 0.3333333333333333]
    """
    L = check_label_matrix(L)
    n, m = L.shape
    # the LFs themselves (snorkel's LFAnalysis(L, lfs)) are named by their name, as
    # the errors of apply_lfs are keyed (objects as names counted no error at all)
    names = ([getattr(x, "name", x) for x in names] if names is not None
             else [f"lf_{j}" for j in range(m)])
    if len(names) != m:
        raise ValueError(f"names has {len(names)} entries but L has {m} LFs")
    fired = L >= 0
    n_fired = fired.sum(axis=1)
    gold = None if y is None else check_gold(y, n)
    if learned_accuracy is not None and np.shape(learned_accuracy) != (m,):
        raise ValueError(f"learned_accuracy must hold one value per LF ({m}), got shape "
                         f"{np.shape(learned_accuracy)}: pass the label model's accuracy_, "
                         "fitted on this L")
    out = []
    for j in range(m):
        f = fired[:, j]
        others = n_fired - f
        overlap = f & (others > 0)
        # conflict: another LF votes a different class on the same item
        conflict = np.zeros(n, dtype=bool)
        if overlap.any():
            rows = np.flatnonzero(overlap)
            sub = L[rows]
            conflict[rows] = ((sub >= 0) & (sub != L[rows, j][:, None])).any(axis=1)
        row: dict[str, Any] = {
            "name": names[j],
            "polarity": sorted(int(v) for v in np.unique(L[f, j])),
            "coverage": float(f.mean()),
            "overlaps": float(overlap.mean()),
            "conflicts": float(conflict.mean()),
        }
        if gold is not None:
            g = f & (gold >= 0)
            correct = int((L[g, j] == gold[g]).sum())
            row["correct"] = correct
            row["incorrect"] = int(g.sum()) - correct
            row["empirical_accuracy"] = correct / int(g.sum()) if g.any() else None
            if random_gold is not None:
                gr = g & np.asarray(random_gold, dtype=bool)
                row["random_correct"] = int((L[gr, j] == gold[gr]).sum())
                row["random_incorrect"] = int(gr.sum()) - row["random_correct"]
        if learned_accuracy is not None:
            row["learned_accuracy"] = float(np.asarray(learned_accuracy)[j])
        if errors is not None:
            e = errors.get(names[j], 0)
            row["errors"] = int(getattr(e, "count", e))
        out.append(row)
    return out


def lf_summary_frame(
    L: LabelMatrix,
    names: Sequence[Any] | None = None,
    y: Any = None,
    learned_accuracy: Any = None,
    errors: Mapping[str, Any] | None = None,
    random_gold: Any = None,
) -> Any:
    """:func:`lf_summary` as a pandas DataFrame indexed by LF name (the same
    arguments)."""
    import pandas as pd

    rows = lf_summary(L, names, y, learned_accuracy, errors, random_gold)
    return pd.DataFrame(rows).set_index("name")
