import numpy as np
import pytest

from loop.core.end_model import EndModel, make_classifier, make_text_features

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
