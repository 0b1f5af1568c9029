"""The loop's step functions: how the end model's gold weight is chosen."""

import numpy as np

from loop.core.end_model import EndModel, TextFeatures, make_classifier
from loop.core.step import (
    GOLD_WEIGHT_FITS,
    MIN_GOLD_FOR_CV,
    choose_gold_weight,
    update_gold_weight,
)


def _task(n=600, seed=0):
    """Texts whose words give the class away, and an LF that is right 60% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [f"w{c}{rng.integers(0, 5)} x{rng.integers(0, 50)} x{rng.integers(0, 50)}"
             for c in y]
    X = TextFeatures(char_ngrams=False).fit_transform(texts)  # words that say the class
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
    plain = EndModel(make_classifier(random_state=0), gold_view=None)  # weak labels as given
    out = choose_gold_weight(X, lm, L, y, n_classes=2, judge=judge, end_model=plain)
    assert out["n_judged"] == 100 and out["n_gold"] == 200
    # gold that is clean against weak labels that are 60% right: trust the gold more
    assert out["gold_weight"] > plain.gold_weight
    assert all(0 <= c <= 100 for c in out["correct"].values())
    # with the gold's own view of the items the weak labels are overruled at any weight
    viewed = choose_gold_weight(X, lm, L, y, n_classes=2, judge=judge)
    assert viewed["correct"][plain.gold_weight] > out["correct"][plain.gold_weight] + 10


def test_the_weight_is_chosen_again_only_when_the_gold_grew_by_a_quarter():
    X, L, lm, y_true = _task()
    y = np.full(len(y_true), -1)
    y[:100] = y_true[:100]
    w, at = update_gold_weight(X, lm, L, y, n_classes=2, current=None, chosen_at=0)
    assert at == 100 and w is not None
    y[100:120] = y_true[100:120]  # 120 < 1.25 * 100: kept
    assert update_gold_weight(X, lm, L, y, n_classes=2, current=-1.0, chosen_at=100) == \
        (-1.0, 100)


def test_choosing_the_gold_weight_reports_each_of_its_fits():
    """Speed trial: the service's retrain said nothing for 91 s while these fits ran."""
    X, L, lm, y_true = _task()
    y = np.full(len(y_true), -1)
    y[:100] = y_true[:100]
    seen = []
    out = choose_gold_weight(X, lm, L, y, n_classes=2, progress=lambda *a: seen.append(a))
    assert seen == [(i, GOLD_WEIGHT_FITS) for i in range(1, GOLD_WEIGHT_FITS + 1)]
    assert len(out["correct"]) * 3 == GOLD_WEIGHT_FITS  # weights x folds
    seen.clear()  # kept (too little new gold): no fit, no report
    update_gold_weight(X, lm, L, y, n_classes=2, current=10.0, chosen_at=100,
                       progress=lambda *a: seen.append(a))
    assert seen == []
    y[: MIN_GOLD_FOR_CV - 1], y[MIN_GOLD_FOR_CV - 1:] = y_true[: MIN_GOLD_FOR_CV - 1], -1
    choose_gold_weight(X, lm, L, y, n_classes=2, progress=lambda *a: seen.append(a))
    assert seen == []  # too little gold to judge by


def test_the_label_models_gold_check_is_kept_until_the_random_gold_grew_by_a_quarter():
    """A gold check is 15 fits; the fast path after every answer keeps its
    decisions (the way gold enters, the gold layer) and checks again at 1.25x."""
    from loop.core.step import fit_label_model
    from loop.core.synthetic import rules_task

    L, y, _ = rules_task(n=6000, k=4, m=45, seed=3)  # where the gold layer is used
    tr, te = slice(0, 4000), slice(4000, 6000)
    order = np.random.default_rng(3).permutation(4000)

    def gold(n):
        g = np.full(4000, -1)
        g[order[:n]] = y[tr][order[:n]]
        return g

    first = fit_label_model(L[tr], gold(1000), None, n_classes=4)
    assert first.gold_layer_ is not None and "kept" not in first.gold_check_
    assert 0 < first.gold_layer_weight_ < 1  # blended in, and kept so
    # same gold, decisions kept: the same model, without the 15 fits
    same = fit_label_model(L[tr], gold(1000), None, n_classes=4, checked=first.gold_check_)
    assert same.gold_check_["kept"] and same.gold_check_["n_random_gold"] == 1000
    assert np.array_equal(same.predict_proba(L[te]), first.predict_proba(L[te]))
    # more gold, under a quarter more: still kept (and what was kept is carried on)
    more = fit_label_model(L[tr], gold(1200), None, n_classes=4, checked=same.gold_check_)
    assert more.gold_check_["kept"] and more.gold_layer_ is not None
    assert more.gold_check_["n_random_gold"] == 1000
    # a quarter more: checked again
    again = fit_label_model(L[tr], gold(1250), None, n_classes=4, checked=more.gold_check_)
    assert "kept" not in again.gold_check_ and again.gold_check_["n_random_gold"] == 1250
    # other LFs: checked again
    other = fit_label_model(L[tr][:, :44], gold(1000), None, n_classes=4,
                            checked=first.gold_check_)
    assert "kept" not in other.gold_check_


def test_rank_never_asks_about_a_copy_of_an_answered_queued_or_other_candidate_item():
    """New-user trial: SMS data repeats messages, and one was served twice in a row.
    A text the expert answered, or one waiting in the queue, is no new question; nor
    is one of two copies once the other is asked about (also when ranking a sample)."""
    from loop.core.sampling import twins
    from loop.core.step import rank

    texts = ["win a free prize now", "see you at five", "win a free prize now",
             "call me later", "see you at five", "win a free prize now", "ok",
             "call me later", "lunch?", "lunch?"]
    X = TextFeatures().fit(texts).transform(texts)
    L = np.full((len(texts), 1), -1)
    lm = np.full((len(texts), 2), 0.5)
    y = np.full(len(texts), -1)
    y[0] = 1  # answered: its two copies are out
    queued = np.zeros(len(texts), dtype=bool)
    queued[3] = True  # waits in the queue: its copy is out
    groups = twins(X)
    for max_rows in (None, 3):
        sel = rank(L, lm, y, 10, X=X, exclude=queued, max_rows=max_rows, random_state=0)
        picked = [texts[i] for i in sel.indices]
        assert len(picked) == len(set(picked)), picked
        assert not {"win a free prize now", "call me later"} & set(picked)
        if max_rows is None:
            assert sorted(picked) == ["lunch?", "ok", "see you at five"]
        # the groups a caller keeps (the service: once per item set) pick the same
        kept = rank(L, lm, y, 10, X=X, exclude=queued, max_rows=max_rows, random_state=0,
                    twin_groups=groups)
        assert kept.indices.tolist() == sel.indices.tolist()


def test_rows_left_out_are_not_fitted_even_by_their_soft_label():
    """The items held out to score the end model: fitted on their soft labels, the
    end model echoes the label model on exactly them (a service trial scored
    YouTube's end model 0.888 so, 0.928 with them left out)."""
    from loop.core.step import fit_end_model

    X, L, lm, y_true = _task(n=300)
    y = np.full(len(y_true), -1)
    y[:40] = y_true[:40]
    out = np.zeros(len(y), bool)
    out[250:] = True
    out[:5] = True  # gold too
    kept = ~out
    a = fit_end_model(X, lm, L, y, n_classes=2, leave_out=out).predict_proba(X)
    b = fit_end_model(X[kept], lm[kept], L[kept], y[kept], n_classes=2).predict_proba(X)
    assert np.allclose(a, b)
    c = fit_end_model(X, lm, L, y, n_classes=2).predict_proba(X)
    assert not np.allclose(a[out], c[out])
