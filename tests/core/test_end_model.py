import numpy as np
import pytest

from loop.core.end_model import EndModel, TextFeatures, make_classifier, make_text_features

TEXTS = ["buy cheap pills now", "great song love it", "subscribe to my channel",
         "this song is beautiful", "check out my channel", "love this video"] * 5
Y = np.array([1, 0, 1, 0, 1, 0] * 5)


def test_soft_labels_and_gold_train_a_text_model():
    proba = np.where(Y[:, None] == 1, [0.2, 0.8], [0.8, 0.2])
    proba[::4] = np.nan  # rows no LF covers
    model = EndModel(n_classes=2, random_state=0).fit(TEXTS, proba)
    assert (model.predict(TEXTS) == Y).mean() == 1.0


def test_gold_overrides_soft_labels_and_features_can_be_precomputed():
    X, = make_text_features(TEXTS)
    wrong = np.tile([0.5, 0.5], (len(TEXTS), 1))
    model = EndModel(make_classifier(random_state=0), n_classes=2).fit(X, wrong, Y)
    assert (model.predict(X) == Y).mean() == 1.0
    assert model.predict_proba(X).shape == (len(TEXTS), 2)


def test_single_class_gives_a_constant_model_and_empty_input_errors():
    y = np.full(len(TEXTS), -1)
    y[0] = 1
    m = EndModel(n_classes=3).fit(TEXTS, None, y)
    assert m.predict(TEXTS[:2]).tolist() == [1, 1]
    with pytest.raises(ValueError, match="nothing to train on"):
        EndModel().fit(TEXTS, None, np.full(len(TEXTS), -1))
    with pytest.raises(ValueError, match="proba must have shape"):
        EndModel().fit(TEXTS, np.ones((2, 2)))


class _Recorder:
    """A classifier that records what it was fitted on (sample weights per class)."""

    def __init__(self):
        self.mass = None

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.mass = np.bincount(y, weights=sample_weight, minlength=3)
        return self

    def predict_proba(self, X):
        return np.full((X.shape[0], len(self.classes_)), 1 / len(self.classes_))


@pytest.mark.parametrize(("residual", "mass"), [
    ("as_given", [0.9, 0.4, 0.7]),   # class 0, the prior's favourite, gets most residual
    ("uniform", [0.8, 0.4, 0.8]),    # the 0.4 left off each top class split evenly
])
def test_residual_of_multi_class_soft_labels(residual, mass):
    X = np.eye(2)
    proba = np.array([[0.6, 0.3, 0.1], [0.3, 0.1, 0.6]])
    model = EndModel(_Recorder(), n_classes=3, residual=residual, class_balance=0).fit(X, proba)
    assert np.allclose(model.model_.mass, mass)


def test_residual_does_not_change_two_class_soft_labels():
    X, = make_text_features(TEXTS)
    proba = np.where(Y[:, None] == 1, [0.3, 0.7], [0.9, 0.1])
    a = EndModel(make_classifier(random_state=0), n_classes=2, residual="uniform").fit(X, proba)
    b = EndModel(make_classifier(random_state=0), n_classes=2, residual="as_given").fit(X, proba)
    assert np.allclose(a.predict_proba(X), b.predict_proba(X))
    with pytest.raises(ValueError, match="residual must be one of"):
        EndModel(residual="nope").fit(X, proba)


def test_the_fit_is_bounded_and_says_whether_it_converged():
    """The solver stops at the work bound (rows x iterations) instead of running for
    minutes; the ConvergenceWarning becomes ``converged_`` (tests turn warnings
    into errors)."""
    from loop.core.end_model import EndModel, make_classifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 1200))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.integers(0, 5, size=600)  # separable noise at C=1e4: slow to converge
    m = EndModel(make_classifier(C=1e4, random_state=0), n_classes=5, gold_weight=1.0,
                 max_row_epochs=600 * 20).fit(X, None, y)
    assert m.model_.max_iter == 20 and m.converged_ is False
    Xe = X[:, :3] / np.linalg.norm(X[:, :3], axis=1, keepdims=True)  # scaled, like TF-IDF
    easy = EndModel(make_classifier(C=1.0, random_state=0), n_classes=2).fit(
        Xe, None, (Xe[:, 0] > 0).astype(int))
    assert easy.converged_ is True


def test_columns_no_training_row_uses_are_left_out_of_the_fit_with_the_same_model():
    """Fitting on the used columns only is the same regularised model (it keeps a
    fit's cost off a million items' vocabulary)."""
    from sklearn.linear_model import LogisticRegression

    from loop.core.end_model import EndModel, make_classifier

    X, = make_text_features(TEXTS + ["zz unseen words only here", "qq more unseen"])
    y = np.r_[Y, -1, -1]
    tight = make_classifier(random_state=0).set_params(max_iter=1000, tol=1e-10)
    m = EndModel(tight, n_classes=2, gold_weight=2.0).fit(X, None, y)
    assert m.columns_ is not None and m.columns_.size < X.shape[1]
    g = y >= 0
    full = LogisticRegression(C=4.0, max_iter=1000, tol=1e-10).fit(
        X[g], y[g], sample_weight=np.full(g.sum(), 2.0))
    assert np.allclose(m.predict_proba(X), full.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("k", [2, 4])
def test_soft_labels_are_fitted_once_per_row_to_the_same_model(k):
    """A logistic regression by L-BFGS is fitted to each soft-labeled row once, not
    once per class; the objective is scikit-learn's on the repeated rows, so the
    model is the same (a subclass of LogisticRegression still takes the repeated
    rows)."""
    from sklearn.linear_model import LogisticRegression

    class Repeated(LogisticRegression):
        pass

    rng = np.random.default_rng(k)
    X = rng.normal(size=(300, 40))
    truth = (X[:, :k] + rng.normal(scale=1.5, size=(300, k))).argmax(axis=1)
    proba = rng.dirichlet(np.ones(k), size=300)
    proba[np.arange(300), truth] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    proba[:20] = np.nan  # no LF voted there
    y = np.full(300, -1)
    y[::15] = truth[::15]
    fits = {}
    for name, clf in (("soft", make_classifier(random_state=0)),
                      ("repeated", Repeated(C=4.0, random_state=0))):
        fits[name] = EndModel(clf, n_classes=k).fit(X, proba, y)
    soft, repeated = fits["soft"], fits["repeated"]
    assert type(soft.model_) is LogisticRegression and soft.converged_
    assert soft.model_.coef_.shape == repeated.model_.coef_.shape
    assert np.allclose(soft.predict_proba(X), repeated.predict_proba(X), atol=1e-6)
    assert soft.model_.n_iter_[0] == repeated.model_.n_iter_[0]


def test_class_balance_evens_the_soft_label_mass_and_shrinks_with_gold():
    X = np.eye(40)
    soft = np.tile([0.9, 0.1], (40, 1))  # class 1 holds a tenth of the soft-label mass

    def seen(y=None, **kw):
        return EndModel(_Recorder(), n_classes=2, **kw).fit(X, soft, y).model_.mass[:2]

    assert np.allclose(seen(class_balance=0), [36, 4])  # as given
    assert np.allclose(seen(class_balance=1.0), [20, 20])  # each class weighs the same
    half = seen(class_balance=0.5)
    assert np.isclose(half[1] / half[0], 1 / 3)  # (1/9) ** 0.5
    # 20 gold rows with balance_gold=10: half the power
    y = np.full(40, -1)
    y[:20] = 0
    w = seen(y, class_balance=1.0, balance_gold=10, gold_weight=1.0)
    assert np.isclose((w[1]) / (w[0] - 20), 1 / 3)  # soft rows only: (1/9) ** 0.5


def _one_sided_weak_labels(n=2000, n_gold=100, seed=0):
    """Items whose class is the sign of feature 0; an LF votes class 1 on every item
    with feature 1 > 0.5 (a third of them, half of those wrongly): weak labels a
    linear model cannot discount, since they are wrong on one side only."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y_true = (X[:, 0] > 0).astype(int)
    soft = np.where(y_true[:, None] == 1, [0.2, 0.8], [0.8, 0.2])
    one_sided = X[:, 1] > 0.5
    soft[one_sided] = [0.2, 0.8]
    y = np.full(n, -1)
    gold = rng.choice(n, n_gold, replace=False)
    y[gold] = y_true[gold]
    return X, soft, y, y_true, one_sided


def test_the_gold_view_overrules_weak_labels_the_gold_contradicts():
    X, soft, y, y_true, one_sided = _one_sided_weak_labels()

    def accuracy(gold_view):
        model = EndModel(make_classifier(random_state=0), n_classes=2, gold_view=gold_view)
        pred = model.fit(X, soft, y).predict(X)
        return (pred == y_true).mean(), (pred[one_sided] == y_true[one_sided]).mean()

    (alone, alone_there), (viewed, viewed_there) = accuracy(None), accuracy("product")
    assert alone_there < 0.85  # the weak labels pulled the boundary over
    assert viewed_there > 0.92 and viewed > alone + 0.04


def test_the_gold_view_needs_gold_of_two_classes():
    X, soft, _, _, _ = _one_sided_weak_labels()
    y = np.full(len(X), -1)
    y[:3] = 0

    def proba(gold_view):
        model = EndModel(make_classifier(random_state=0), n_classes=2, gold_view=gold_view)
        return model.fit(X, soft, y).predict_proba(X)

    assert np.allclose(proba(None), proba("product"))
    # with no weight on the gold's view it changes nothing either
    y[3:6] = 1
    trusting_none = EndModel(make_classifier(random_state=0), n_classes=2, gold_view_shrink=1e12)
    assert np.allclose(trusting_none.fit(X, soft, y).predict_proba(X), proba(None), atol=1e-6)
    with pytest.raises(ValueError, match="gold_view must be"):
        EndModel(n_classes=2, gold_view="sum").fit(X, soft, y)
    with pytest.raises(ValueError, match="gold_view_shrink must be"):
        EndModel(n_classes=2, gold_view_shrink=-1).fit(X, soft, y)


def test_features_keep_the_words_of_a_language_written_with_combining_marks():
    # Hindi: a vowel sign cuts a word into one-letter pieces, which scikit-learn's
    # default token pattern drops: "अच्छी" (good) and "बुरी" (bad) gave no feature
    good = ["यह किताब अच्छी है", "फिल्म अच्छी थी", "खाना अच्छी तरह बना"] * 4
    bad = ["यह किताब बुरी है", "फिल्म बुरी थी", "खाना बुरी तरह बना"] * 4
    X, X_new = make_text_features(good + bad, ["बहुत अच्छी", "बहुत बुरी"])
    assert X.getnnz(axis=1).min() >= 3  # every text has its words
    y = np.array([1] * len(good) + [0] * len(bad))
    model = EndModel(make_classifier(), n_classes=2).fit(X, None, y)
    assert model.predict(X_new).tolist() == [1, 0]
    # texts the default reads are featurized as before
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["Check out my channel", "so sweet ẹ̀kọ́ ọ̀nà", "a b"]
    Xe = TextFeatures(char_ngrams=False).fit_transform(texts)
    ref = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    assert abs(Xe - ref).max() < 1e-6


def test_features_add_character_ngrams_unless_the_texts_are_long(monkeypatch):
    """Words and character n-grams, each half of a row's norm; beyond
    CHAR_NGRAMS_MAX_CHARS of text only words (the features are kept in Redis)."""
    import loop.core.end_model as end_model

    texts = ["WIN £1000 now", "win £500 today", "see you at 5", "see you soon"]
    X, X_new = make_text_features(texts, ["£2000 prize"])
    words = TextFeatures(char_ngrams=False).fit(texts)
    n_words = words.transform(texts).shape[1]
    assert X.shape[1] > n_words and X.dtype == np.float32
    assert np.allclose(np.asarray(X.multiply(X).sum(axis=1)).ravel(), 1.0, atol=1e-5)
    assert np.allclose(np.asarray(X[:, :n_words].multiply(X[:, :n_words]).sum(axis=1)), 0.5,
                       atol=1e-5)
    # no word of the new text was seen, but "£" and its digits were
    assert X_new[:, :n_words].nnz == 0 and X_new[:, n_words:].nnz > 0
    monkeypatch.setattr(end_model, "CHAR_NGRAMS_MAX_CHARS", sum(map(len, texts)) - 1)
    (Xw,) = make_text_features(texts)
    assert Xw.shape[1] == n_words
    with pytest.raises(ValueError, match="nothing to read"):
        make_text_features(["a", "?"])


def test_end_model_scores_known_labels_and_says_what_y_must_be():
    """A data scientist's trial: ``EndModel`` had no ``score``, and string labels in
    ``y`` failed with a bare ``int()`` error."""
    X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    y = np.array([0, 0, 1, 1])
    em = EndModel(n_classes=2, estimator=make_classifier()).fit(X, y=y)
    assert em.score(X, y) == 1.0
    assert em.score(X, np.array([0, -1, 1, -1])) == 1.0  # unknown rows are not scored
    with pytest.raises(ValueError, match="no known label"):
        em.score(X, np.full(4, -1))
    with pytest.raises(ValueError, match="map label names to their ids"):
        EndModel(n_classes=2, estimator=make_classifier()).fit(X, y=["ham", "ham", "spam",
                                                                      "spam"])
    with pytest.raises(ValueError, match=r"shape \(4,\) to match X"):
        EndModel(n_classes=2, estimator=make_classifier()).fit(X, y=[0, 1])


def test_pandas_inputs_are_read_by_position_and_checked_like_the_loops():
    # A notebook's df["text"] after a filter or sort (an index not 0..n-1) was a
    # KeyError listing every row number; the whole DataFrame a KeyError on its
    # columns; a missing text was read as the word "None"; one string an
    # AttributeError. Now rows are by position and the errors say what to pass.
    pd = pytest.importorskip("pandas")
    proba = np.where(Y[:, None] == 1, [0.2, 0.8], [0.8, 0.2])
    shuffled = pd.Series(TEXTS, index=np.arange(len(TEXTS))[::-1] + 100)
    on_list = EndModel(random_state=0).fit(TEXTS, proba)
    on_series = EndModel(random_state=0).fit(shuffled, proba)
    assert np.array_equal(on_series.predict_proba(shuffled), on_list.predict_proba(TEXTS))
    frame = pd.DataFrame({"text": TEXTS}, index=shuffled.index)
    assert np.array_equal(EndModel(random_state=0).fit(frame, proba).predict(frame),
                          on_list.predict(TEXTS))
    with pytest.raises(ValueError, match=r"3 columns.*X=df\['text'\]"):
        EndModel().fit(frame.assign(n=1.0, author="x"), proba)
    with pytest.raises(ValueError, match=r"no text \(None or NaN\) at 1 row \(position 2\)"):
        EndModel().fit(TEXTS[:2] + [None] + TEXTS[3:], proba)
    with pytest.raises(ValueError, match="X is one string"):
        on_list.predict("love this song")


def test_a_feature_frame_is_taken_by_position_too():
    pd = pytest.importorskip("pandas")
    from sklearn.linear_model import LogisticRegression

    X = np.c_[Y + np.linspace(0, 0.5, len(Y)), np.ones(len(Y))]
    frame = pd.DataFrame(X, columns=["a", "b"], index=np.arange(len(Y)) * 7 + 3)
    gold = np.where(np.arange(len(Y)) < 12, Y, -1)
    on_frame = EndModel(LogisticRegression()).fit(frame, None, gold)
    on_array = EndModel(LogisticRegression()).fit(X, None, gold)
    assert np.allclose(on_frame.predict_proba(frame), on_array.predict_proba(X))


def test_gold_labels_passed_as_proba_say_where_they_go():
    # scikit-learn's habit, fit(X, y), put the labels in proba: the error gave only
    # the shape expected.
    with pytest.raises(ValueError, match=r"gold labels .* go in y, fit\(X, y=labels\)"):
        EndModel().fit(TEXTS, Y)
    with pytest.raises(ValueError, match=r"EndModel\(n_classes=3\)"):
        EndModel().fit(TEXTS, np.full((len(TEXTS), 3), 1 / 3))
