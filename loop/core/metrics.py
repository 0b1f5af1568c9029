"""Scores reported by the CLI and benchmarks."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from loop.core.validation import check_gold

METRICS = ("acc", "f1")


def score(metric: str, y_true: Any, y_pred: Any) -> float:
    """``"acc"``: accuracy over all rows; ``"f1"``: F1 of class 1.

    >>> score("acc", [0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    if metric == "acc":
        return float(accuracy_score(y_true, y_pred))
    if metric == "f1":
        return float(f1_score(np.asarray(y_true) == 1, np.asarray(y_pred) == 1, zero_division=0))
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def gold_accuracy(pred: np.ndarray, y: Any, n_classes: int | None = None,
                  against: str = "L") -> float:
    """Share of the rows with a known gold label (``y`` >= 0) that ``pred`` gets right
    (the models' ``score``; ``y`` checked as :func:`~loop.core.validation.check_gold`
    checks it, ``against`` naming what it must match in length).

    ``y`` is coded as everywhere in this library, -1 where unknown: counted as
    wrong, those rows pulled the score down by the share of unlabeled rows (a user's
    ``lm.score(L, y)`` with 50 known labels of 300 said 0.13 for a model 0.8 right).

    >>> gold_accuracy(np.array([0, 1, 1]), [0, -1, 0])
    0.5
    """
    y = check_gold(y, len(pred), n_classes, against=against)
    known = y >= 0
    if not known.any():
        raise ValueError("y has no known label (every entry is -1): nothing to score")
    return float((pred[known] == y[known]).mean())


def significantly_better(new_right: Any, old_right: Any) -> bool:
    """Whether ``new_right`` (bool per held-out row: predicted right) beats
    ``old_right`` by more than two standard errors of the paired difference: a
    sign test on the rows where exactly one of the two is right, so noise in a
    small gold set does not flip a choice.

    >>> significantly_better([True] * 10, [False] * 10), significantly_better([True], [False])
    (True, False)
    """
    new, old = np.asarray(new_right, dtype=bool), np.asarray(old_right, dtype=bool)
    gain, loss = int((new & ~old).sum()), int((~new & old).sum())
    return bool(gain - loss > 2 * np.sqrt(gain + loss))


def mixture_weights(logp: Any, floor: float = 0.02, n_iter: int = 200) -> np.ndarray:
    """Weights of the mixture of models that makes held-out rows likeliest.

    ``logp`` is (n_rows, n_models): each model's log-probability of each row's
    true class. The weights maximise ``sum_i log sum_m w_m p_m(y_i)`` on the
    simplex (EM, which never leaves it and only climbs); weights below ``floor``
    are dropped and the rest renormalised, so a model the rows do not want costs
    nothing at prediction. Used where one model is rarely significantly better
    than another on a hundred rows, but a blend of them is better than either.

    >>> mixture_weights(np.log([[0.9, 0.5], [0.8, 0.5], [0.9, 0.6]])).round(2).tolist()
    [1.0, 0.0]
    >>> w = mixture_weights(np.log([[0.9, 0.1], [0.1, 0.9]]))
    >>> w.round(2).tolist()
    [0.5, 0.5]
    """
    P = np.exp(np.asarray(logp, dtype=np.float64))
    if P.ndim != 2 or P.shape[1] < 1:
        raise ValueError(f"logp must be (n_rows, n_models), got shape {P.shape}")
    m = P.shape[1]
    w = np.full(m, 1.0 / m)
    if P.shape[0] == 0:
        return w
    for _ in range(n_iter):
        R = P * w
        R /= np.maximum(R.sum(axis=1, keepdims=True), 1e-300)
        new = R.mean(axis=0)
        if np.abs(new - w).max() < 1e-6:
            w = new
            break
        w = new
    w = np.where(w < floor, 0.0, w)
    return w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)


def proportion_interval(right: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share ``right / n`` (``scipy.stats.binomtest``):
    sound at 0 or n of n and for a few dozen rows, where the normal one is not.

    >>> tuple(round(x, 3) for x in proportion_interval(9, 10))
    (0.596, 0.982)
    """
    from scipy.stats import binomtest

    if n < 1 or not 0 <= right <= n:
        raise ValueError(f"need 0 <= right <= n and n >= 1, got right={right}, n={n}")
    ci = binomtest(int(right), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)
