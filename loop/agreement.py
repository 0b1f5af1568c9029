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

:func:`pairs` gives each pair of annotators Cohen's kappa on the items both
answered (there the same two raters did rate every item).
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


def pairs(answers: Iterable[Iterable[tuple[str, int]]], n_classes: int) -> list[dict[str, Any]]:
    """Each pair of annotators who answered some items both: how many
    (``n_items``), how often they agree (``observed``) and Cohen's kappa there
    (``kappa``: chance agreement from each one's own class shares on those items;
    None when it is 1), and ``confusion``: ``[a's class][b's class]`` counts.

    ``answers`` holds each item's ``(annotator, label)`` answers.

    >>> out = pairs([[("a", 0), ("b", 0)], [("a", 1), ("b", 0)], [("a", 1), ("b", 1)],
    ...              [("a", 0), ("c", 0)]], n_classes=2)
    >>> [(x["a"], x["b"], x["n_items"], round(x["observed"], 3)) for x in out]
    [('a', 'b', 3, 0.667), ('a', 'c', 1, 1.0)]
    >>> round(out[0]["kappa"], 4), out[0]["confusion"]
    (0.4, [[1, 0], [1, 1]])
    """
    tables: dict[tuple[str, str], np.ndarray] = {}
    for item in answers:
        got = sorted(dict(item).items())  # one answer per annotator, by name
        for i, (a, la) in enumerate(got):
            for b, lb in got[i + 1:]:
                t = tables.setdefault((a, b), np.zeros((n_classes, n_classes), np.int64))
                t[int(la), int(lb)] += 1
    out = []
    for (a, b), t in sorted(tables.items()):
        n = int(t.sum())
        observed = float(np.trace(t)) / n
        chance = float((t.sum(axis=1) / n) @ (t.sum(axis=0) / n))
        kappa = None if chance >= 1.0 - 1e-12 else (observed - chance) / (1.0 - chance)
        out.append({"a": a, "b": b, "n_items": n, "observed": observed, "kappa": kappa,
                    "confusion": t.tolist()})
    return out
