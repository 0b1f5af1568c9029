"""The loop's step functions: how the end model's gold weight is chosen."""

import numpy as np

from loop.core.end_model import EndModel, make_text_features
from loop.core.step import MIN_GOLD_FOR_CV, choose_gold_weight, update_gold_weight


def _task(n=600, seed=0):
    """Texts whose words give the class away, and an LF that is right 60% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [f"w{c}{rng.integers(0, 5)} x{rng.integers(0, 50)} x{rng.integers(0, 50)}"
             for c in y]
    (X,) = make_text_features(texts)
    L = np.where(rng.random((n, 1)) < 0.6, y[:, None], 1 - y[:, None])
    lm = np.eye(2)[L[:, 0]] * 0.8 + 0.1
    return X, L, lm, y


def test_gold_weight_is_judged_on_the_rows_given_and_waits_for_enough_of_them():
    X, L, lm, y_true = _task()
    y = np.full(len(y_true), -1)
    y[:200] = y_true[:200]
    judge = np.zeros(len(y), bool)
    judge[: MIN_GOLD_FOR_CV - 1] = True
    few = choose_gold_weight(X, lm, L, y, n_classes=2, judge=judge)
    assert few["correct"] == {} and few["n_judged"] == MIN_GOLD_FOR_CV - 1
    judge[:100] = True
    out = choose_gold_weight(X, lm, L, y, n_classes=2, judge=judge)
    assert out["n_judged"] == 100 and out["n_gold"] == 200
    # gold that is clean against weak labels that are 60% right: trust the gold more
    assert out["gold_weight"] > EndModel().gold_weight
    assert all(0 <= c <= 100 for c in out["correct"].values())


def test_the_weight_is_chosen_again_only_when_the_gold_grew_by_a_quarter():
    X, L, lm, y_true = _task()
    y = np.full(len(y_true), -1)
    y[:100] = y_true[:100]
    w, at = update_gold_weight(X, lm, L, y, n_classes=2, current=None, chosen_at=0)
    assert at == 100 and w is not None
    y[100:120] = y_true[100:120]  # 120 < 1.25 * 100: kept
    assert update_gold_weight(X, lm, L, y, n_classes=2, current=-1.0, chosen_at=100) == \
        (-1.0, 100)
