"""Agreement between annotators on items with several answers (numpy only).

Each item contributes its answer counts per class, ``counts[i, c]`` = how many
annotators gave item ``i`` class ``c``; items with fewer than two answers are
left out. We use Fleiss' kappa because it handles any number of raters per item
(Cohen's kappa needs the same two raters on every item), in the usual form for
a varying number of raters ``n_i`` per item:

* ``P_i = sum_c n_ic (n_ic - 1) / (n_i (n_i - 1))``: share of agreeing pairs of
  answers on item ``i``; the observed agreement ``P_bar`` is their mean;
* ``p_c = sum_i n_ic / sum_i n_i`` and ``P_e = sum_c p_c^2``: chance agreement;
* ``kappa = (P_bar - P_e) / (1 - P_e)``, ``None`` when ``P_e = 1`` (every answer
  is the same class: no disagreement is possible by chance either).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def item_agreement(labels: Iterable[int]) -> float | None:
    """Share of agreeing pairs among one item's answers; None below two answers.

    >>> item_agreement([1, 1, 0])
    0.3333333333333333
    >>> item_agreement([0]) is None
    True
    """
    _, counts = np.unique(np.asarray(list(labels), dtype=np.int64), return_counts=True)
    n = int(counts.sum())
    if n < 2:
        return None
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def fleiss(answers: Iterable[Iterable[int]], n_classes: int) -> dict[str, Any] | None:
    """Observed pairwise agreement and Fleiss' kappa over items with >= 2 answers.

    ``answers`` holds each item's labels (class indices in ``[0, n_classes)``).
    Returns ``{observed, kappa, n_items_multi, n_answers}`` or None when no item
    has two answers.

    >>> out = fleiss([[0, 0], [1, 1], [0, 1], [1, 1], [0]], n_classes=2)
    >>> round(out["observed"], 4), round(out["kappa"], 4), out["n_items_multi"]
    (0.75, 0.4667, 4)
    """
    rows = []
    for labels in answers:
        ls = np.asarray(list(labels), dtype=np.int64)
        if ls.size >= 2:
            rows.append(np.bincount(ls, minlength=n_classes))
    if not rows:
        return None
    counts = np.vstack(rows).astype(np.float64)
    n_i = counts.sum(axis=1)
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    observed = float(p_i.mean())
    p_c = counts.sum(axis=0) / n_i.sum()
    chance = float((p_c**2).sum())
    kappa = None if chance >= 1.0 - 1e-12 else (observed - chance) / (1.0 - chance)
    return {"observed": observed, "kappa": kappa, "n_items_multi": len(rows),
            "n_answers": int(n_i.sum())}
