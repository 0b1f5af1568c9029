import numpy as np
import pytest

from loop.core.labeling_loop import LabelingLoop
from loop.core.sampling import RandomSampler


def make_task(n=400, seed=0):
    """Two classes. Each item has a telltale token (its class) plus noise tokens;
    four keyword-style LFs (each votes one class, 80% precise) see only the
    first half of the items, so the other half can be labeled only by the end
    model."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [f"{'spam' if c else 'ham'} " + " ".join(f"w{rng.integers(50)}" for _ in range(5))
             for c in y]
    L = np.full((n, 4), -1)
    for i in range(n // 2):
        for j in range(4):
            polarity = j % 2
            fires = (y[i] == polarity and rng.random() < 0.5) or (
                y[i] != polarity and rng.random() < 0.125)
            if fires:
                L[i, j] = polarity
    return L, texts, y


def test_the_loop_labels_items_no_lf_covers():
    L, texts, y = make_task()
    loop = LabelingLoop(L, texts, random_state=0)
    for _ in range(5):
        ask = loop.query(10)
        assert ask.size == 10 and not (loop.y[ask] >= 0).any()
        loop.teach(ask, y[ask])
    assert loop.n_gold == 50
    uncovered = ~(L >= 0).any(axis=1)
    pred = loop.predict()
    assert (pred[uncovered] == y[uncovered]).mean() > 0.85
    proba = loop.predict_proba()
    # Gold rows carry their answer; the others the end model's, also where an LF votes:
    # it learned from the gold too (here it reads every item's telltale token, which
    # the 80%-precise LFs miss)
    gold = loop.y >= 0
    assert np.array_equal(proba[gold].argmax(1), y[gold]) and np.all(proba[gold].max(1) == 1)
    assert np.allclose(proba[~gold], loop.end_proba_[~gold])
    covered = ~uncovered & ~gold
    assert ((pred == y)[covered].mean() > (loop.lm_proba_.argmax(1) == y)[covered].mean())


def test_only_the_samplers_random_picks_count_as_random_gold():
    L, texts, y = make_task()
    loop = LabelingLoop(L, texts, random_state=0)
    sel = loop.rank(10)
    ask = sel.indices
    random_picks = set(sel.random_indices.tolist())
    assert 0 < len(random_picks) < 10  # LoopSampler: 20% exploration with two classes
    loop.teach(ask, y[ask])
    assert set(np.flatnonzero(loop.random_gold).tolist()) == random_picks
    # A sampler that draws every item at random makes all of its answers random gold.
    loop = LabelingLoop(L, texts, sampler=RandomSampler(random_state=0), random_state=0)
    ask = loop.query(10)
    loop.teach(ask, y[ask])
    assert loop.random_gold.sum() == 10


def test_a_random_dev_set_counts_as_random_gold():
    L, texts, y = make_task()
    loop = LabelingLoop(L, texts, random_state=0)
    dev = np.random.default_rng(1).choice(len(y), 20, replace=False)
    loop.teach(dev, y[dev], random=True)
    assert set(np.flatnonzero(loop.random_gold).tolist()) == set(dev.tolist())
    # Each one-sided LF's precision moves off the shared prior once random gold is in.
    assert np.unique(loop.label_model_.accuracy_.round(6)).size > 1


def test_deterministic_for_a_seed_and_respects_exclude():
    L, texts, y = make_task()

    def run():
        loop = LabelingLoop(L, texts, random_state=3)
        asked = []
        for _ in range(2):
            ask = loop.query(5, exclude=np.arange(len(y)) < 100)
            asked += ask.tolist()
            loop.teach(ask, y[ask])
        return asked

    first = run()
    assert first == run() and min(first) >= 100


def test_without_features_the_label_model_labels_alone():
    L, _, y = make_task()
    loop = LabelingLoop(L, random_state=0)
    ask = loop.query(10)
    loop.teach(ask, y[ask])
    assert loop.end_model_ is None and loop.end_proba_ is None
    proba = loop.predict_proba()
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(1), 1)


def test_query_stops_when_everything_is_labeled():
    L = np.array([[0, -1], [1, 1], [-1, 0]])
    loop = LabelingLoop(L, random_state=0)
    loop.teach([0, 1, 2], [0, 1, 0])
    assert loop.query(5).size == 0


@pytest.mark.parametrize(("call", "match"), [
    (lambda lp: lp.teach([0, 1], [1]), "2 items but 1 labels"),
    (lambda lp: lp.teach([0], [2]), r"labels must be in \[0, 2\).*n_classes="),
    (lambda lp: lp.teach([7], [0]), r"item indices must be in \[0, 3\)"),
    (lambda lp: lp.teach([True, False, True], [0, 1, 0]), r"np.flatnonzero\(mask\)"),
    (lambda lp: lp.teach([0], ["spam"]), "map label names to their ids"),
    (lambda lp: lp.teach([0], [0.5]), "class ids"),
    (lambda lp: lp.teach([1, 1], [0, 1]), "item 1 is given two labels, 0 and 1"),
    (lambda lp: lp.query(0), "n must be a whole number >= 1"),
    (lambda lp: lp.query(2.5), "n must be a whole number >= 1, got 2.5"),
    (lambda lp: lp.teach([0, 1], [-5, 1]), r"labels must be in \[0, 2\), got -5"),
    (lambda lp: lp.query(2, exclude=[1, 2]), "exclude must be a bool mask over all 3 items"),
])
def test_bad_input_is_a_clear_error(call, match):
    loop = LabelingLoop(np.array([[0, -1], [1, 1], [-1, 0]]), random_state=0)
    with pytest.raises(ValueError, match=match):
        call(loop)
    assert loop.n_gold == 0  # and nothing was recorded


def test_features_must_match_L():
    with pytest.raises(ValueError, match="X has 2 rows for 3 rows of L"):
        LabelingLoop(np.array([[0], [1], [0]]), ["a", "b"])


def test_labels_as_whole_floats_and_a_repeated_answer_are_taken():
    loop = LabelingLoop(np.array([[0, -1], [1, 1], [-1, 0]]), random_state=0)
    loop.teach(np.array([0, 2, 2]), np.array([1.0, 0.0, 0.0]))
    assert loop.y.tolist() == [1, -1, 0]
    loop.teach([0], [0])  # a correction: the new label stands
    assert loop.y.tolist() == [0, -1, 0] and loop.n_gold == 2


def test_an_answer_taken_back_is_unlabeled_again_and_refits():
    """New-user trial: teach(idx, [-1]) was refused with no way to take an answer back."""
    L, texts, y = make_task(n=120)
    loop = LabelingLoop(L, texts, random_state=0)
    ask = loop.query(10)
    loop.teach(ask, y[ask])
    was_random = loop.random_gold.copy()
    gone = np.concatenate([ask[was_random[ask]][:1], ask[~was_random[ask]][:2]])
    kept = np.setdiff1d(ask, gone)
    assert gone.size == 3
    with pytest.raises(ValueError, match=r"got -1: to take an answer back, forget\(idx\)"):
        loop.teach(ask[:1], [-1])
    before = loop.end_model_
    loop.forget(gone)
    assert loop.n_gold == 7 and (loop.y[gone] == -1).all() and loop.end_model_ is not before
    assert not loop.random_gold[gone].any()
    assert (loop.random_gold[kept] == was_random[kept]).all()
    assert loop.predict_proba()[kept].argmax(axis=1).tolist() == y[kept].tolist()
    loop.forget(gone[:1])  # already unlabeled: nothing changes
    assert loop.n_gold == 7
    with pytest.raises(ValueError, match=r"item indices must be in \[0, 120\)"):
        loop.forget([120])


def test_one_value_per_item_is_neither_texts_nor_features():
    with pytest.raises(ValueError, match="pass the items' texts .* or a 2-D feature matrix"):
        LabelingLoop(np.array([[0], [1], [0]]), np.array([0.1, 0.2, 0.3]))


def test_a_column_of_texts_or_a_dataframe_of_features_is_taken_and_one_string_is_not():
    import pandas as pd

    L = np.array([[0, -1], [1, 1], [-1, 0]])
    texts = ["hello there", "check this", "nice song"]
    want = LabelingLoop(L, texts, random_state=0).query(2).tolist()
    assert LabelingLoop(L, pd.DataFrame({"text": texts})[["text"]],
                        random_state=0).query(2).tolist() == want
    feats = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [1.0, 0.0, 1.0]}, index=[7, 8, 9])
    assert LabelingLoop(L, feats, random_state=0).query(2).tolist() == LabelingLoop(
        L, feats.to_numpy(), random_state=0).query(2).tolist()
    with pytest.raises(ValueError, match="X is one string; pass one text per item"):
        LabelingLoop(L, "hello there")


def test_a_whole_dataframe_or_a_missing_text_is_refused_saying_what_to_pass():
    """New-user trial: a DataFrame of text and label failed deep in the end model's
    fit ("could not convert string to float"), and a NaN text became the word "nan"."""
    import pandas as pd

    L = np.array([[0, -1], [1, 1], [-1, 0]])
    df = pd.DataFrame({"text": ["hello there", None, "nice song"], "label": [0, 1, 0]})
    with pytest.raises(ValueError, match=r"X has 2 columns, not all numbers \('text', "
                                         r"'label'\); pass the items' texts .*X=df\['text'\]"):
        LabelingLoop(L, df)
    for X in (df["text"], df[["text"]], df["text"].tolist(), df["text"].astype("string")):
        with pytest.raises(ValueError, match=r"no text \(None or NaN\) at 1 row \(position "
                                             r"1\).*fillna\(''\)"):
            LabelingLoop(L, X)
    loop = LabelingLoop(L, df["text"].fillna(""), random_state=0)
    assert loop.predict().shape == (3,)
    with pytest.raises(ValueError, match="no text"):
        loop.predict(["a new one", float("nan")])


def test_new_items_are_labelled_by_the_same_models():
    """Tomorrow's items (or a test set): the end model reads their texts through the
    loop's own TF-IDF (new-user trial: nothing labelled items outside the pool)."""
    L, texts, y = make_task(n=500)
    pool, new = np.arange(100, 500), np.arange(100)  # LFs vote on the first 250 only
    loop = LabelingLoop(L[pool], [texts[i] for i in pool], random_state=0)
    for _ in range(3):
        ask = loop.query(10)
        loop.teach(ask, y[pool][ask])
    new_texts = [texts[i] for i in new]
    end = loop.predict_proba(new_texts)
    assert end.shape == (100, 2) and np.allclose(end.sum(1), 1)
    assert (loop.predict(new_texts) == y[new]).mean() > 0.9
    # the pool's own texts, as new items: the end model's probabilities for them
    assert np.allclose(loop.predict_proba([texts[i] for i in pool[:20]]), loop.end_proba_[:20],
                       atol=1e-6)
    with pytest.raises(ValueError, match="pass the new items' X"):
        loop.predict_proba(L=L[new])
    with pytest.raises(ValueError, match="pass X alone"):
        loop.predict_proba(new_texts, L=L[new])
    with pytest.raises(ValueError, match="pass the new items' texts"):
        loop.predict_proba(np.zeros((3, 5)))


def test_new_items_of_a_loop_without_texts():
    L, _, y = make_task()
    X = np.eye(2)[y] + np.random.default_rng(0).normal(0, 0.3, (len(y), 2))
    loop = LabelingLoop(L[:300], X[:300], random_state=0)
    assert loop.predict_proba(X[300:]).shape == (100, 2)
    with pytest.raises(ValueError, match="the loop's features have 2 columns"):
        loop.predict_proba(X[300:, :1])
    with pytest.raises(ValueError, match="not texts"):
        loop.predict_proba(["some text"])
    alone = LabelingLoop(L[:300], random_state=0)  # no end model: the votes alone
    assert np.allclose(alone.predict_proba(L=L[300:]),
                       alone.label_model_.predict_proba(L[300:]))
    assert np.allclose(alone.predict_proba()[alone.y < 0], alone.lm_proba_[alone.y < 0])
    with pytest.raises(ValueError, match="no end model"):
        alone.predict_proba(X[300:])
    with pytest.raises(ValueError, match="L has 3 LFs, the loop has 4"):
        alone.predict_proba(L=L[300:, :3])


def test_held_out_items_are_not_taught():
    """Library trial: teaching held-out rows was accepted, and their score became 1.0."""
    L, texts, y = make_task()
    loop = LabelingLoop(L, texts, random_state=0, held_out=np.arange(10))
    with pytest.raises(ValueError, match="item 3 is held out"):
        loop.teach([20, 3], [y[20], y[3]])
    assert loop.n_gold == 0


def test_a_plain_classifier_and_majority_vote_can_be_the_loops_models():
    """``end_model=LogisticRegression()`` failed deep in scikit-learn ("y should be a
    1d array": it was fitted on the soft labels as its y) and
    ``label_model=MajorityVote()`` with a TypeError (``random_gold``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from loop.core.end_model import EndModel
    from loop.core.label_model import MajorityVote

    L, texts, y = make_task()
    X = TfidfVectorizer().fit_transform(texts)
    loop = LabelingLoop(L, X, end_model=LogisticRegression(max_iter=200),
                        label_model=MajorityVote(random_state=0), random_state=0)
    assert isinstance(loop.end_model, EndModel)
    ask = loop.query(10)
    loop.teach(ask, y[ask])
    uncovered = ~(L >= 0).any(axis=1)
    assert (loop.predict()[uncovered] == y[uncovered]).mean() > 0.85
    assert isinstance(loop.label_model_, MajorityVote)


def test_held_out_rows_out_of_range_or_of_another_length_are_named():
    """A data scientist's trial: ``held_out=[10]`` for 10 items was a bare IndexError."""
    L = np.array([[0, -1], [1, 1], [-1, 0]] * 3 + [[0, 0]])
    with pytest.raises(ValueError, match="held_out holds index 10, out of range for 10"):
        LabelingLoop(L, held_out=[10])
    with pytest.raises(ValueError, match=r"held_out as a mask must have shape \(10,\)"):
        LabelingLoop(L, held_out=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="bool mask of the 10 items or a list"):
        LabelingLoop(L, held_out=["a"])
    mask = LabelingLoop(L, held_out=[0, -1]).held_out  # indices, as numpy reads them
    assert mask.tolist() == [True] + [False] * 8 + [True]
    assert LabelingLoop(L, held_out=[]).held_out.sum() == 0


def test_a_notebook_shows_the_loops_size_and_progress_and_a_ranking_teaches():
    # A notebook cell ending in `loop` showed "<...LabelingLoop object at 0x...>".
    L, texts, y = make_task()
    loop = LabelingLoop(L, texts, random_state=0)
    assert repr(loop) == ("LabelingLoop(n_items=400, n_lfs=4, n_classes=2, X=texts, "
                          "n_gold=0, fitted=False)")
    sel = loop.rank(5)  # a Selection is its indices: teach takes it as query's array
    loop.teach(sel, y[sel])
    assert loop.n_gold == 5 and repr(loop).endswith("n_gold=5, fitted=True)")
    assert "X=votes only" in repr(LabelingLoop(L))


def test_new_lf_columns_are_checked_before_they_join_the_votes():
    # add_lfs cast the columns to L's small int type first: a NaN where the new LF
    # abstains became a vote for class 0 (a RuntimeWarning at most), 0.5 a vote for
    # 0, and 300 "class 44".
    L, texts, y = make_task(n=40)
    loop = LabelingLoop(L, texts, random_state=0)
    abstains_as_nan = np.where(y == 1, 1.0, np.nan)
    with pytest.raises(ValueError, match=r"columns holds NaN: use -1"):
        loop.add_lfs(abstains_as_nan)
    with pytest.raises(ValueError, match="non-integers"):
        loop.add_lfs(np.where(y == 1, 0.5, -1))
    with pytest.raises(ValueError, match="class 300 but n_classes=2"):
        loop.add_lfs(np.where(y == 1, 300, -1))
    assert loop.L.shape == (40, 4)
    loop.add_lfs(np.where(y == 1, 1, -1))
    assert loop.L.shape == (40, 5) and loop.L[:, 4].tolist() == np.where(y == 1, 1, -1).tolist()
