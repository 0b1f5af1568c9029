"""The end model: a classifier over item features, trained on the label
model's probabilistic labels (rows some LF covers) plus the gold labels, so the
loop can label items that no LF covers.

Soft labels are taught the standard way for classifiers without soft-label
support: each covered row appears once per class with sample weight ``p(c)``.
Gold rows appear once, with weight ``gold_weight``.

With more than two classes the probability a soft label leaves off its top
class is by default spread evenly over the other classes (``residual``). The
label model spreads it by class prevalence: that part is the prior, not evidence
about the item, and summed over every row it teaches the classifier to favour the
commonest class (``docs/benchmarks_loop.md`` has the measurements).

As gold accumulates, a classifier fitted on the gold alone reads the items
differently from the LFs; each soft label is combined with it (``gold_view``), so
the gold overrules weak labels it clearly contradicts and the loop keeps up with
active learning when answers are plentiful.

Even so, a classifier trained on soft labels predicts the classes that hold most
of their mass far more often than they occur (semeval: 58% of valid rows for a
class of 35%). The soft labels are therefore reweighted towards even classes
(``class_balance``, the square root of the inverse mass by default), less as gold
accumulates.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from loop.core.metrics import gold_accuracy
from loop.core.text import token_pattern_for
from loop.core.types import Proba
from loop.core.validation import as_texts, check_gold

RESIDUALS = ("uniform", "as_given")
GOLD_VIEWS = ("product", None)


def even_residual(proba: Proba) -> Proba:
    """Keep each row's top probability; spread the rest evenly over the other classes.

    >>> even_residual(np.array([[0.6, 0.3, 0.1]])).round(2).tolist()
    [[0.6, 0.2, 0.2]]
    """
    p = np.asarray(proba, dtype=np.float64)
    k = p.shape[1]
    top = p.argmax(axis=1)
    keep = p[np.arange(len(p)), top]
    out = np.repeat(((1.0 - keep) / (k - 1))[:, None], k, axis=1)
    out[np.arange(len(p)), top] = keep
    return out


def make_text_pipeline(C: float = 4.0, random_state: Any = None) -> Pipeline:
    """Default end model for text: :class:`TextFeatures` + logistic regression."""
    return Pipeline(
        [
            ("features", TextFeatures()),
            ("clf", make_classifier(C=C, random_state=random_state)),
        ]
    )


#: Character n-grams join the word features unless the texts to learn them from hold
#: more than this many characters (about 50,000 SMS-length items): their columns have
#: 6-8 times the nonzeros of the words', so the features kept in Redis grow as much
#: and every fit slows (the loop on yoruba's valid split: 3.5x the time). Beyond it
#: the end model reads words only.
CHAR_NGRAMS_MAX_CHARS = 4_000_000


class TextFeatures(TransformerMixin, BaseEstimator):
    """TF-IDF features (float32 CSR) of texts: word 1-2 grams and character 2-5
    grams within word boundaries (seen in 2+ texts), each block weighing half of a
    row's unit norm.

    Words are scikit-learn's, unless the texts are in a language whose words those
    would lose (Hindi's vowel signs cut every word into dropped one-letter pieces;
    :func:`~loop.core.text.token_pattern_for`). Character n-grams read what words
    miss: numbers, symbols and spellings (``£1000``, ``txt``, ``0800``), and the
    stems and affixes of a language whose words take many forms. Chosen in the loop
    on the valid splits of sms, hausa and yoruba (3 seeds; end model at 0 / 50 / 100
    / 200 answers; ``docs/benchmarks_loop.md``): words only -> words and character
    n-grams, sms (F1) .860 / .864 / .880 / .922 -> .918 / .919 / .962 / .957, hausa
    .528 / .584 / .622 / .655 -> .531 / .587 / .633 / .689, yoruba .540 / .619 /
    .668 / .686 -> .593 / .683 / .713 / .713.

    Parameters
    ----------
    char_ngrams
        ``None``: add them unless the texts fitted on hold more than
        :data:`CHAR_NGRAMS_MAX_CHARS` characters; ``True`` / ``False``: always / never.
    """

    def __init__(self, char_ngrams: bool | None = None) -> None:
        self.char_ngrams = char_ngrams

    def fit(self, texts: Any, y: Any = None) -> TextFeatures:
        self._fit_blocks(texts)
        return self

    def fit_transform(self, texts: Any, y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        """Fit and featurize ``texts`` in one pass (a vectorizer's fit computes its
        matrix anyway: fit, then transform, tokenized every text twice)."""
        return self._stack(self._fit_blocks(texts))

    def transform(self, texts: Any) -> sp.csr_matrix:
        check_is_fitted(self, "blocks_")
        texts = [str(t) for t in texts]
        return self._stack([v.transform(texts) for v in self.blocks_])

    def _fit_blocks(self, texts: Any) -> list[Any]:
        """Fit the vectorizers (``blocks_``); the matrices of ``texts``, one per block."""
        texts = [str(t) for t in texts]
        use_chars = self.char_ngrams
        if use_chars is None:
            use_chars = sum(map(len, texts)) <= CHAR_NGRAMS_MAX_CHARS
        chars: TfidfVectorizer | None = None
        char_matrix = None
        if use_chars:
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                    sublinear_tf=True, dtype=np.float32)
            try:
                char_matrix = chars.fit_transform(texts)
            except ValueError:  # no n-gram in two texts (a handful of items)
                chars = None
        words = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                                token_pattern=token_pattern_for(texts), dtype=np.float32)
        try:
            parts = [words.fit_transform(texts)]
            self.blocks_ = [words]
        except ValueError:  # no word of two letters anywhere ("a", "?")
            if chars is None:
                raise ValueError("the texts hold no word of two or more letters: the end "
                                 "model has nothing to read") from None
            parts, self.blocks_ = [], []
        if chars is not None:
            parts.append(char_matrix)
            self.blocks_.append(chars)
        return parts

    @staticmethod
    def _stack(parts: list[Any]) -> sp.csr_matrix:
        """The blocks side by side, each weighing an equal share of a row's norm."""
        if len(parts) == 1:
            return sp.csr_matrix(parts[0])
        scale = np.float32(1.0 / np.sqrt(len(parts)))
        return (sp.hstack(parts, format="csr") * scale).astype(np.float32)


def make_text_features(texts: list[str], *others: list[str]) -> tuple[Any, ...]:
    """:class:`TextFeatures` of ``texts`` (the vocabulary is learned there) and of
    ``others``.

    Featurize once and train :class:`EndModel` with
    ``estimator=make_classifier()`` on the matrices: much faster in a loop than
    refitting the text pipeline every round.
    """
    feats = TextFeatures()
    return (feats.fit_transform(texts), *(feats.transform(o) for o in others))


def features_version() -> str:
    """What decides :func:`make_text_features`' matrix, hashed: the code of this
    module, of :mod:`loop.core.text` and of :mod:`loop.core.relations` (what the
    service gives it to read), and scikit-learn's version. Features kept across runs
    are rebuilt when it changes (upgrade trial: a new version's end model went on
    training on the matrix the old version had built, another vocabulary, until an
    upload changed the item count). Any change of that code rebuilds them once,
    whether it changes them or not: a rebuild costs little."""
    import hashlib
    from pathlib import Path

    import sklearn

    from loop.core import relations, text

    h = hashlib.sha256(sklearn.__version__.encode())
    for path in (__file__, text.__file__, relations.__file__):
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:12]


def make_classifier(C: float = 4.0, random_state: Any = None,
                    max_iter: int = 200) -> LogisticRegression:
    """The default classifier over precomputed features: logistic regression fitted
    by L-BFGS, at most ``max_iter`` iterations (:class:`EndModel` lowers that further
    on large training sets; see ``max_row_epochs``).

    Not saga: saga's step size ignores sample weights, so once gold rows weigh
    30-100x a soft-labeled row it oscillates and the fit lands anywhere (sms at
    300 answers, gold weight 30: F1 0.46 with saga, 0.91 with L-BFGS; more in
    ``docs/benchmarks_loop.md``). L-BFGS was as fast on 20,000 rows."""
    return LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter, random_state=random_state)


def _bound_epochs(est: Any, n_rows: int, max_row_epochs: float) -> None:
    """Cap the epochs of an iterative final step at ``max_row_epochs / n_rows``
    (at least 20): a fit's work, and so its time, is bounded whatever the labels."""
    final = est.steps[-1][1] if isinstance(est, Pipeline) else est
    if max_row_epochs and hasattr(final, "max_iter") and n_rows > 0:
        cap = max(20, int(np.ceil(max_row_epochs / n_rows)))
        final.set_params(max_iter=min(int(final.max_iter), cap))


def _fit_weighted(estimator: Any, X: Any, rows: np.ndarray, y: np.ndarray,
                  w: np.ndarray) -> Any:
    """``estimator`` fitted on rows ``rows`` of ``X`` with labels ``y`` and weights
    ``w``, a row repeated once per class it is taught (a soft label). A logistic
    regression fitted by L-BFGS is fitted on each row once, to the same objective
    (:func:`fit_soft_logistic`); anything else on the repeated rows."""
    if _takes_soft_labels(estimator):
        u, inv = np.unique(rows, return_inverse=True)
        classes = np.unique(y)
        P = np.zeros((u.size, classes.size))
        np.add.at(P, (inv, np.searchsorted(classes, y)), w)
        return fit_soft_logistic(estimator, X[u], P, classes)
    X = _take(X, rows)
    if isinstance(estimator, Pipeline):
        last = estimator.steps[-1][0]
        return estimator.fit(X, y, **{f"{last}__sample_weight": w})
    return estimator.fit(X, y, sample_weight=w)


def _takes_soft_labels(est: Any) -> bool:
    """A plain L2 logistic regression fitted by L-BFGS (what :func:`make_classifier`
    makes), whose objective :func:`fit_soft_logistic` solves with soft labels."""
    if type(est) is not LogisticRegression:
        return False
    p = est.get_params()
    return (p["solver"] == "lbfgs" and p["penalty"] in ("l2", "deprecated")
            and p["fit_intercept"] and p["class_weight"] is None and not p["warm_start"]
            and p.get("l1_ratio") in (None, 0, 0.0)
            and p.get("multi_class", "auto") in ("auto", "deprecated", "multinomial")
            and float(p["intercept_scaling"]) == 1.0)


def fit_soft_logistic(est: LogisticRegression, X: Any, P: np.ndarray,
                      classes: np.ndarray) -> LogisticRegression:
    """Fit ``est`` (:func:`_takes_soft_labels`) to soft labels: ``P[i, c]`` is how
    much row ``i`` of ``X`` is taught class ``classes[c]`` (a soft label times its
    row's weight). The objective is the one scikit-learn minimises on each row
    repeated once per class with those weights (its L2 penalty, ``C``, ``tol`` and
    ``max_iter``, L-BFGS from zero; one sigmoid column for two classes, a softmax
    over all of them for more), so the model is the same, but each iteration reads
    every row once instead of once per class. The end model on five shared sets'
    train splits (0 / 100 / 300 gold): the same class probabilities to 1e-10 and
    1.9-2.6x faster with 5-9 classes (semeval, 9 classes, 1,749 texts: 2.5-4.5 s
    instead of 6.5-8.3 s), 1.1-1.5x with two (the rest is L-BFGS's own work on
    every feature's weight).
    scikit-learn has no soft-label classifier; the fitted ``est`` is a plain
    ``LogisticRegression`` (``coef_``, ``intercept_``, ``classes_``), and a
    :class:`~sklearn.exceptions.ConvergenceWarning` says it stopped at ``max_iter``,
    as scikit-learn's own fit does."""
    from scipy.optimize import minimize
    from scipy.special import expit, logsumexp

    X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, np.float64)
    n, d = X.shape
    k = P.shape[1]
    mass = P.sum(axis=1)  # the row's total weight
    if not mass.sum() > 0:
        raise ValueError("nothing to train on: every training row has weight 0")
    a = 1.0 / float(mass.sum())  # scikit-learn averages over the weights,
    lam = a / float(est.C)  # and scales the penalty to match
    if k == 2:  # one column: the log-odds of classes[1]
        t = P[:, 1]

        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            coef, b = theta[:d], theta[d]
            z = X @ coef + b
            val = a * float(mass @ np.logaddexp(0.0, z) - t @ z) + 0.5 * lam * float(coef @ coef)
            r = a * (mass * expit(z) - t)
            return val, np.concatenate([X.T @ r + lam * coef, [r.sum()]])
        x0 = np.zeros(d + 1)
    else:
        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = theta[:d * k].reshape(d, k), theta[d * k:]
            Z = X @ W + b
            lse = logsumexp(Z, axis=1)
            val = a * float(mass @ lse - (P * Z).sum()) + 0.5 * lam * float((W * W).sum())
            R = a * (np.exp(Z - lse[:, None]) * mass[:, None] - P)
            return val, np.concatenate([(X.T @ R + lam * W).ravel(), R.sum(axis=0)])
        x0 = np.zeros(d * k + k)
    res = minimize(f, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": int(est.max_iter), "maxls": 50, "gtol": float(est.tol),
                            "ftol": 64 * np.finfo(float).eps})
    if res.status != 0:
        warnings.warn(f"lbfgs failed to converge after {res.nit} iterations ({res.message})",
                      ConvergenceWarning, stacklevel=2)
    if k == 2:
        est.coef_, est.intercept_ = res.x[None, :d].copy(), res.x[d:].copy()
    else:
        est.coef_ = res.x[:d * k].reshape(d, k).T.copy()
        est.intercept_ = res.x[d * k:].copy()
    est.classes_ = np.asarray(classes)
    est.n_features_in_ = d
    est.n_iter_ = np.array([min(int(res.nit), int(est.max_iter))], dtype=np.int32)
    return est


def _used_columns(X: Any, estimator: Any) -> np.ndarray | None:
    """The feature columns with a nonzero in the training rows ``X`` (None: all of
    them, or ``X`` is not a matrix). A regularised linear model gives every other
    column weight 0, so fitting on these alone is the same model; it keeps the
    fit's cost off the vocabulary of items it does not train on (a million items'
    TF-IDF bigrams made an L-BFGS fit on 20,000 rows take 14 s)."""
    if isinstance(X, list | tuple) or isinstance(estimator, Pipeline) or X.ndim != 2:
        return None
    if sp.issparse(X):
        used = np.unique(sp.csr_matrix(X).indices)
    else:
        used = np.flatnonzero(np.asarray(X != 0).any(axis=0))
    return None if used.size == X.shape[1] else used


def _take(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, list | tuple):
        return [X[i] for i in idx]
    if hasattr(X, "iloc"):  # pandas: rows by position, whatever the index
        return X.iloc[idx]
    return X[idx]


def _inputs(X: Any, estimator: Any) -> Any:
    """``X`` as :class:`EndModel` fits and predicts on it: texts as a list of
    strings for the default text pipeline (a list, array or pandas Series, or a
    DataFrame's one text column; a ValueError naming rows without a text, and for a
    whole DataFrame of several columns); a pandas DataFrame of features as an array,
    unless the estimator is a pipeline (which may pick its columns by name)."""
    if isinstance(X, str):
        raise ValueError("X is one string; pass one text per item (a list of strings)")
    if estimator is None:  # the default pipeline reads texts
        texts = as_texts(X)
        return X if texts is None else texts
    if hasattr(X, "columns") and not isinstance(estimator, Pipeline):
        return X.to_numpy()
    return X


class EndModel(BaseEstimator):
    """Train any scikit-learn classifier on soft labels plus gold labels.

    Parameters
    ----------
    estimator
        An unfitted classifier or pipeline with ``sample_weight`` support in its
        final step; cloned on every fit. Default: :func:`make_text_pipeline`.
    n_classes
        Size of the label space.
    gold_weight
        Weight of a gold row relative to a soft-labeled row. 10, chosen on the
        loop's own answers on sms and hausa (seed 0, 25 to 300 answers: 10 beat
        3 at 9 of 10 points, 30 and 100 were no better on both sets) and checked
        on youtube (level or better at 4 of 5 points); yoruba and semeval were
        held out of the choice and first seen in the 3-seed learning curves
        (``docs/benchmarks_loop.md``).
    min_confidence
        Soft-labeled rows whose top probability is below this are left out.
    residual
        ``"uniform"``: a soft label keeps its top class's probability and the
        rest is spread evenly over the other classes; ``"as_given"``: soft
        labels are used as they are. Identical with two classes.
    soft_weight
        Weight of a soft-labeled row relative to 1 (gold rows weigh
        ``gold_weight``): how far the weak labels count against the gold.
    class_balance
        The soft labels of class ``c`` are weighted ``(1 / (k * m_c)) **
        class_balance``, ``m_c`` the class's share of all soft-label mass: 0 =
        as given, 1 = every class weighs the same in all. Gold rows are not
        reweighted. Beyond ``balance_gold`` gold rows the power shrinks as
        ``balance_gold / n_gold``: the gold then says more than the correction.
        0.5 was chosen in the loop on the valid splits of the five text sets
        (0, 0.5, 1; 0 to 300 answers, ``docs/benchmarks_loop.md``): it gained
        3-4 points on average at 0 and 25 answers; 1 lost up to 9 points of
        spam F1 on sms.
    balance_gold
        See ``class_balance``.
    gold_view
        ``"product"``: before training, each soft label ``p`` is combined with
        ``q``, the class probabilities of the same model fitted on the gold
        alone, as a product of experts: ``p(c) * q(c) / prior(c)`` (``prior``:
        the gold's class shares, smoothed by one per class). The two are
        different evidence about an item, the LFs' votes and the gold's reading
        of its features; as gold accumulates the gold overrules weak labels
        where it clearly disagrees, which no single weight can (a one-sided LF
        that is wrong on half its items pulls a weighted fit's boundary however
        much the gold weighs). Needs gold of two classes; ``None``: soft labels
        as given. ``docs/benchmarks_loop.md`` has the measurements.
    gold_view_shrink
        The gold's view counts ``n_gold / (n_gold + gold_view_shrink)`` of its
        full strength (``q / prior`` is shrunk towards 1): a classifier of 10
        answers is poor but confident, and at full strength it cost the loop
        at 10 answers 6 to 13 points on the valid splits. 50, chosen in the loop
        on the valid splits of hausa, sms and yoruba (0 / 50 / 100; 3 seeds,
        10 to 300 answers), gave at 10 / 25 / 50 / 100 / 200 / 300 answers:
        hausa .539 / .556 / .576 / .575 / .611 / .631 without the view ->
        .534 / .557 / .584 / .622 / .655 / .695, sms (F1) .877 / .873 / .860 /
        .864 / .876 / .902 -> .864 / .865 / .864 / .880 / .922 / .931, yoruba
        .577 / .619 / .617 / .635 / .665 / .663 -> .577 / .601 / .619 / .668 /
        .686 / .683.
    max_row_epochs
        Work bound of an iterative classifier: at most this many training rows x
        epochs (and never more than its own ``max_iter``, never fewer than 20
        epochs). A fit cannot run for minutes whatever the labels: saga on a
        10-class set (chemprot, 1,607 rows) took up to 62 s per fit at 2,000
        epochs and at most 5.7 s at 200, with the same accuracy (0.543 / 0.537
        / 0.552 vs 0.543 / 0.530 / 0.553 at 200 answers). 0: no bound.
    random_state
        Passed to the default pipeline.
    """

    def __init__(
        self,
        estimator: Any = None,
        n_classes: int = 2,
        gold_weight: float = 10.0,
        min_confidence: float = 0.0,
        residual: str = "uniform",
        max_row_epochs: float = 4e6,
        soft_weight: float = 1.0,
        class_balance: float = 0.5,
        balance_gold: int = 50,
        gold_view: str | None = "product",
        gold_view_shrink: float = 50.0,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.n_classes = n_classes
        self.gold_weight = gold_weight
        self.min_confidence = min_confidence
        self.residual = residual
        self.max_row_epochs = max_row_epochs
        self.soft_weight = soft_weight
        self.class_balance = class_balance
        self.balance_gold = balance_gold
        self.gold_view = gold_view
        self.gold_view_shrink = gold_view_shrink
        self.random_state = random_state

    def fit(self, X: Any, proba: Proba | None = None, y: Any = None) -> EndModel:
        """Fit on ``X`` (texts or features).

        Parameters
        ----------
        X
            n_items inputs: a list of texts for the default pipeline, or a matrix.
        proba
            (n_items, n_classes) soft labels; rows of NaN (or ``None`` overall)
            carry no soft label (e.g. items no LF covers).
        y
            (n_items,) gold labels, -1 where unknown. A gold label replaces the
            row's soft label.
        """
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {RESIDUALS}, got {self.residual!r}")
        if self.gold_view not in GOLD_VIEWS:
            raise ValueError(f"gold_view must be one of {GOLD_VIEWS}, got {self.gold_view!r}")
        if not float(self.gold_view_shrink) >= 0:
            raise ValueError(f"gold_view_shrink must be >= 0, got {self.gold_view_shrink}")
        X = _inputs(X, self.estimator)
        n = len(X) if isinstance(X, list | tuple) else X.shape[0]
        k = int(self.n_classes)
        gold = np.full(n, -1) if y is None else check_gold(y, n, k, against="X")
        #: the model fitted on the gold alone for ``gold_view`` (None without one)
        self.gold_view_model_: EndModel | None = None
        rows, labels, weights = [], [], []
        if proba is not None:
            p = np.asarray(proba, dtype=np.float64)
            if p.shape != (n, k):
                raise ValueError(
                    f"proba must have shape ({n}, {k}), got {p.shape}"
                    + (": it holds soft labels, one row of class probabilities per item; "
                       "gold labels (a class id or -1 per item) go in y, "
                       "fit(X, y=labels)" if p.ndim == 1
                       else f": for {p.shape[1]} classes, EndModel(n_classes={p.shape[1]})"
                       if p.ndim == 2 and p.shape[0] == n and p.shape[1] >= 2 else ""))
            soft = np.isfinite(p).all(axis=1) & (gold < 0)
            soft &= np.nan_to_num(p).max(axis=1) >= self.min_confidence
            idx = np.flatnonzero(soft)
            p = p.copy()
            if self.gold_view == "product" and idx.size:
                p[idx] = self._with_gold_view(X, p[idx], idx, gold, k)
            if self.residual == "uniform" and k > 2 and idx.size:
                p[idx] = even_residual(p[idx])
            cw = np.ones(k)
            if self.class_balance and idx.size:
                mass = np.maximum(p[idx].sum(axis=0) / p[idx].sum(), 1e-6)
                n_gold = int((gold >= 0).sum())
                power = float(self.class_balance) * min(
                    1.0, float(self.balance_gold) / max(n_gold, 1))
                cw = (1.0 / (k * mass)) ** power
            for c in range(k):
                keep = idx[p[idx, c] > 1e-6]
                rows.append(keep)
                labels.append(np.full(keep.size, c))
                weights.append(p[keep, c] * float(self.soft_weight) * cw[c])
        g = np.flatnonzero(gold >= 0)
        rows.append(g)
        labels.append(gold[g])
        weights.append(np.full(g.size, float(self.gold_weight)))
        r = np.concatenate(rows)
        lab = np.concatenate(labels)
        w = np.concatenate(weights)
        if r.size == 0:
            raise ValueError("nothing to train on: no soft labels and no gold labels")
        present = np.unique(lab)
        self.classes_ = np.arange(k)
        if present.size < 2:
            # One class only: a constant model (a classifier cannot be fitted).
            self.constant_ = np.full(k, 1e-3)
            self.constant_[present[0]] = 1.0
            self.constant_ /= self.constant_.sum()
            self.model_ = None
            return self
        self.constant_ = None  # type: ignore[assignment]
        est = (
            clone(self.estimator)
            if self.estimator is not None
            else make_text_pipeline(random_state=self.random_state)
        )
        _bound_epochs(est, r.size, self.max_row_epochs)
        # One thread: processes are the unit of parallelism here (RQ workers, the
        # benchmarks' jobs); OpenMP threads of two fits on two cores spun against
        # each other and made a 5-class fit 4-5x slower (hausa: 6.3-8.4 s vs 1.7 s).
        with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            u = np.unique(r)
            Xu = _take(X, u)
            self.columns_ = _used_columns(Xu, est)
            if self.columns_ is not None:
                Xu = Xu[:, self.columns_]
            self.model_ = _fit_weighted(est, Xu, np.searchsorted(u, r), lab, w)
        #: False when the solver stopped at its epoch bound before converging.
        self.converged_ = not any(issubclass(x.category, ConvergenceWarning) for x in caught)
        for x in caught:  # anything else still surfaces
            if not issubclass(x.category, ConvergenceWarning):
                warnings.warn_explicit(x.message, x.category, x.filename, x.lineno)
        self.present_classes_ = np.asarray(self.model_.classes_)
        return self

    def _with_gold_view(self, X: Any, p: Proba, idx: np.ndarray, gold: np.ndarray,
                        k: int) -> Proba:
        """The soft labels ``p`` of rows ``idx`` combined with a classifier fitted on
        the gold alone, as a product of experts: ``p(c) * q(c) / prior(c)``, with
        ``q / prior`` shrunk towards 1 by ``gold_view_shrink`` pseudo-answers."""
        g = gold[gold >= 0]
        if np.unique(g).size < 2:
            return p
        helper = clone(self).set_params(gold_view=None)
        helper.fit(X, None, gold)
        self.gold_view_model_ = helper
        q = helper.predict_proba(_take(X, idx))
        prior = (np.bincount(g, minlength=k) + 1.0) / (g.size + k)
        trust = g.size / (g.size + float(self.gold_view_shrink))
        out = p * (1.0 + trust * (np.clip(q, 1e-6, None) / prior - 1.0))
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, X: Any) -> Proba:
        """(n_items, n_classes) class probabilities."""
        check_is_fitted(self, "classes_")
        X = _inputs(X, self.estimator)
        n = len(X) if isinstance(X, list | tuple) else X.shape[0]
        if self.model_ is None:
            return np.tile(self.constant_, (n, 1))
        out = np.zeros((n, int(self.n_classes)))
        if self.columns_ is not None:
            X = X[:, self.columns_]
        out[:, self.present_classes_] = self.model_.predict_proba(X)
        return out

    def gold_view_proba(self, X: Any) -> Proba | None:
        """(n_items, n_classes) class probabilities of the model fitted on the gold
        alone (the ``gold_view``), or None when this fit had none. The loop's
        sampler asks where it doubts this model's labels
        (:class:`~loop.core.sampling.LoopSampler`, ``gold_view_weight``)."""
        check_is_fitted(self, "classes_")
        model = getattr(self, "gold_view_model_", None)
        return None if model is None else model.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per item."""
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on the items whose ``y`` is known (-1: unknown),
        as scikit-learn's classifiers score."""
        return gold_accuracy(self.predict(X), y, int(self.n_classes), against="X")
