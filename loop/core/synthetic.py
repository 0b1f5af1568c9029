"""Synthetic weak-supervision tasks with known truth, for tests and benchmarks.

:func:`rules_task` imitates keyword-rule projects: many classes, many sparse
one-sided rules (each votes one class), rules for one class that also fire on a
confusable partner class, and rules that copy part of another rule's firings
(correlated rules). The label model's choices are checked on families of these
(``bench/gold_families.py``) as well as on the shared datasets.
"""

from __future__ import annotations

import numpy as np

from loop.core.types import LabelMatrix


def rules_task(n: int = 6000, k: int = 6, m: int = 40, seed: int = 0, confusable: int = 2,
               correlated: float = 0.3, balance: float = 2.0,
               ) -> tuple[LabelMatrix, np.ndarray, np.ndarray]:
    """``(L, y, polarity)``: ``n`` items of ``k`` classes, ``m`` one-sided rules.

    Each rule votes one class; it fires on 3-25 % of that class, on 0.2-2 % of
    every other class, and (for ``confusable`` class pairs) on 20-90 % as often
    on the partner class. A share ``correlated`` of rule pairs copies half of
    another rule's firings. Class balance ~ Dirichlet(``balance``).

    >>> L, y, pol = rules_task(n=100, k=3, m=5, seed=1)
    >>> L.shape, y.shape, pol.shape
    ((100, 5), (100,), (5,))
    """
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet([balance] * k)
    y = rng.choice(k, size=n, p=prior)
    L = np.full((n, m), -1, dtype=np.int8)
    pol = rng.integers(0, k, size=m)
    partner = np.arange(k)
    for _ in range(confusable if k > 1 else 0):
        a, b = rng.choice(k, 2, replace=False)
        partner[a], partner[b] = b, a
    for j in range(m):
        v = pol[j]
        own = rng.uniform(0.03, 0.25)
        rate = np.full(n, rng.uniform(0.002, 0.02))
        rate[y == v] = own
        if partner[v] != v:
            rate[y == partner[v]] = own * rng.uniform(0.2, 0.9)
        L[rng.random(n) < rate, j] = v
    for j in range(0, m - 1, 2):
        if rng.random() < correlated:
            src = rng.integers(0, m)
            copy = (L[:, src] >= 0) & (rng.random(n) < 0.5)
            L[copy, j] = pol[j]
    return L, y, pol
