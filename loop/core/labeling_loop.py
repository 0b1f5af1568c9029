"""The closed loop in memory: label model, end model, sampler and expert answers.

:class:`LabelingLoop` is what the service runs over Redis and RQ, for one process
and a notebook: ``query`` asks which items an expert should label next,
``teach`` takes the answers and refits, ``predict_proba`` gives every item's
best label so far. ``loop simulate`` drives it with a simulated expert.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier

from loop.core.end_model import EndModel, TextFeatures, make_classifier
from loop.core.label_model import LabelModel
from loop.core.sampling import LoopSampler, Selection
from loop.core.step import fit_end_model, fit_label_model, rank, update_gold_weight
from loop.core.types import Proba
from loop.core.validation import as_texts, check_label_matrix, check_rows, infer_n_classes


def _ids(values: Any, what: str, expected: str) -> np.ndarray:
    """``values`` as a flat int array, or a ValueError saying what was expected
    (a bool mask, strings or fractions are not taken as ids)."""
    a = np.asarray(values).ravel()
    if a.size == 0:
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what} must be {expected}; got {a.dtype} values such as "
                         f"{a[0]!r}")
    return a.astype(np.int64)


#: What ``idx`` of :meth:`LabelingLoop.teach` and ``forget`` must be.
_ITEM_IDS = "item indices, e.g. np.flatnonzero(mask) for a bool mask"


class LabelingLoop:
    """Weak supervision and active learning in one closed loop.

    Parameters
    ----------
    L
        (n_items, n_lfs) LF votes, -1 = abstain (``L, errors = apply_lfs(...)``).
    X
        The items' features for the end model: a matrix, or their texts (a list,
        or a one-dimensional array or pandas Series of strings; TF-IDF features
        are built once, :func:`make_text_features`). ``None``:
        no end model; the loop then labels with the label model alone.
    n_classes
        Size of the label space (default: inferred from ``L``).
    sampler
        A sampler with ``select(...)`` (default :class:`LoopSampler`); its
        ``batch_size`` is set by :meth:`query`.
    label_model, end_model
        Unfitted models, cloned on every fit (defaults: :class:`LabelModel`,
        :class:`EndModel` over a logistic regression). A scikit-learn classifier
        as ``end_model`` (``LogisticRegression()``, a pipeline) is wrapped in an
        :class:`EndModel`, which trains it on the soft labels and the gold.
    random_state
        Seed for the default models and sampler.
    tune_gold_weight
        Choose how much a gold row weighs against the weak labels in the end
        model by cross-validation judged on the random gold (from 30 random
        gold labels on, again each time the gold has grown by a quarter); see
        :func:`~loop.core.step.choose_gold_weight`.
    held_out
        Rows held out to score the models (a bool mask or indices): never asked
        about, and never fitted by the end model, not even by their soft label
        (see :func:`~loop.core.step.fit_end_model`); the label model reads their
        votes (it needs no labels). The service holds out its uploaded eval
        labels this way.

    Each step is a function of :mod:`loop.core.step`, the same ones the
    service's recalibration jobs call.

    Only answers to the items a sampler drew at random (the exploration share of
    :class:`LoopSampler`, ``Selection.random``) re-estimate LF precisions; the
    others were picked where the models are unsure, a biased sample, and only
    fix their own rows (see :meth:`LabelModel.fit`).

    >>> L = np.array([[1, -1], [0, 0], [1, 1], [-1, 0], [-1, -1], [0, 1]])
    >>> loop = LabelingLoop(L, random_state=0)
    >>> ask = loop.query(2)
    >>> loop.teach(ask, [1, 0]).predict_proba().shape
    (6, 2)
    """

    def __init__(
        self,
        L: Any,
        X: Any = None,
        *,
        n_classes: int | None = None,
        sampler: Any = None,
        label_model: Any = None,
        end_model: Any = None,
        random_state: Any = None,
        tune_gold_weight: bool = True,
        held_out: Any = None,
    ) -> None:
        self.L = check_label_matrix(L, n_classes=n_classes)
        n = self.L.shape[0]
        #: Rows held out to score the models (see ``held_out``).
        self.held_out = (np.zeros(n, dtype=bool) if held_out is None
                         else check_rows(held_out, n, "held_out"))
        self.n_classes = infer_n_classes(self.L, None, n_classes)
        texts = as_texts(X)
        if X is not None and (n_x := len(texts) if texts is not None else X.shape[0]) != n:
            raise ValueError(f"X has {n_x} rows for {n} rows of L")
        #: The TF-IDF features of the texts given as ``X`` (None for a feature
        #: matrix): :meth:`predict_proba` makes new items' features with them.
        self.features_: TextFeatures | None = None
        if texts is not None:
            self.features_ = TextFeatures()
            X = self.features_.fit_transform(texts)
        elif hasattr(X, "columns"):  # a pandas DataFrame of features: rows by position
            X = X.to_numpy()
        self.X = X
        self.random_state = random_state
        self.tune_gold_weight = tune_gold_weight
        #: How much a gold row weighs in the end model, as last chosen by
        #: :func:`~loop.core.step.choose_gold_weight` (None: the end model's own).
        self.gold_weight_: float | None = None
        self._gold_weight_at = 0
        self.sampler = sampler if sampler is not None else LoopSampler(random_state=random_state)
        self.label_model = label_model if label_model is not None else LabelModel(
            n_classes=self.n_classes, random_state=random_state)
        if end_model is not None and not isinstance(end_model, EndModel) \
                and is_classifier(end_model):
            # a plain classifier was fitted on the (n, k) soft labels as its y: "y
            # should be a 1d array" from deep inside scikit-learn (a user's
            # end_model=LogisticRegression())
            end_model = EndModel(end_model, n_classes=self.n_classes)
        self.end_model = end_model if end_model is not None else EndModel(
            make_classifier(random_state=random_state), n_classes=self.n_classes)
        #: Gold labels so far, -1 where unknown.
        self.y = np.full(n, -1, dtype=np.int64)
        #: Rows whose gold was drawn at random (an unbiased sample).
        self.random_gold = np.zeros(n, dtype=bool)
        self._random_picks: set[int] = set()
        self._fitted = False

    @property
    def n_gold(self) -> int:
        return int((self.y >= 0).sum())

    def __repr__(self) -> str:
        """What a notebook shows for the loop: its size and progress."""
        n, m = self.L.shape
        inputs = ("texts" if self.features_ is not None
                  else "features" if self.X is not None else "votes only")
        return (f"LabelingLoop(n_items={n}, n_lfs={m}, n_classes={self.n_classes}, "
                f"X={inputs}, n_gold={self.n_gold}, fitted={self._fitted})")

    def fit(self) -> LabelingLoop:
        """Refit the label model on ``L`` and all gold, then the end model on its
        soft labels (rows some LF covers) plus the gold (:mod:`loop.core.step`)."""
        last = getattr(self, "label_model_", None)
        self.label_model_ = fit_label_model(self.L, self.y, self.random_gold,
                                            n_classes=self.n_classes,
                                            label_model=self.label_model,
                                            checked=getattr(last, "gold_check_", None))
        self.lm_proba_: Proba = self.label_model_.predict_proba(self.L)
        self.end_model_: Any = None
        self.end_proba_: Proba | None = None
        self.gold_proba_: Proba | None = None
        if self.X is not None:
            if self.tune_gold_weight:
                self.gold_weight_, self._gold_weight_at = update_gold_weight(
                    self.X, self.lm_proba_, self.L, self.y, n_classes=self.n_classes,
                    current=self.gold_weight_, chosen_at=self._gold_weight_at,
                    end_model=self.end_model, judge=self.random_gold,
                    leave_out=self.held_out)
            self.end_model_ = fit_end_model(self.X, self.lm_proba_, self.L, self.y,
                                            n_classes=self.n_classes,
                                            end_model=self.end_model,
                                            gold_weight=self.gold_weight_,
                                            leave_out=self.held_out)
            self.end_proba_ = self.end_model_.predict_proba(self.X)
            view = getattr(self.end_model_, "gold_view_proba", None)  # an EndModel's
            self.gold_proba_ = None if view is None else view(self.X)
        self._fitted = True
        return self

    def add_lfs(self, columns: Any) -> LabelingLoop:
        """Append the votes of new LFs (an (n_items, k) array, -1 = abstain), e.g.
        rules accepted from :func:`~loop.core.suggest.suggest_rules`; the next fit
        uses them."""
        cols = np.asarray(columns)
        if cols.ndim == 1:
            cols = cols[:, None]
        if cols.shape[0] != self.L.shape[0]:
            raise ValueError(f"columns have {cols.shape[0]} rows for {self.L.shape[0]} items")
        # checked as they are given: cast to L's dtype first, a NaN (an abstain
        # written as missing) became a vote for class 0 and 0.5 a vote for 0
        cols = check_label_matrix(cols, n_classes=self.n_classes, name="columns")
        self.L = check_label_matrix(np.hstack([self.L, cols]), n_classes=self.n_classes)
        self._fitted = False
        return self

    def rank(self, n: int = 10, exclude: Any = None) -> Selection:
        """The :class:`~loop.core.sampling.Selection` behind :meth:`query`: up to
        ``n`` items, best first, their scores and which were drawn at random."""
        if not self._fitted:
            self.fit()
        skip = self.held_out if exclude is None else exclude
        if exclude is not None and np.shape(exclude) == self.held_out.shape:
            skip = self.held_out | np.asarray(exclude).astype(bool)  # (else rank says why)
        sel = rank(self.L, self.lm_proba_, self.y, n, end_proba=self.end_proba_, X=self.X,
                   exclude=skip, sampler=self.sampler, gold_proba=self.gold_proba_)
        self._random_picks = {int(i) for i in sel.random_indices}
        return sel

    def query(self, n: int = 10, exclude: Any = None) -> np.ndarray:
        """Indices of up to ``n`` unlabeled items to ask an expert about next:
        fewer when fewer are left to ask (an item whose features are an answered
        item's, the same text, is not asked; its answer is known).

        ``exclude``: a bool mask of further items never to ask about.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a whole number >= 1, got {n!r}")
        return self.rank(n, exclude).indices

    def teach(self, idx: Any, labels: Any, refit: bool = True,
              random: bool = False) -> LabelingLoop:
        """Record the expert's ``labels`` for items ``idx`` and (by default) refit.

        Items the last :meth:`query` drew at random count as random gold; pass
        ``random=True`` when all of ``idx`` were drawn at random by you (a random
        dev set, say), so that they re-estimate LF precisions too. An item taught
        before takes its new label (a correction); one given two labels in one
        call is a ``ValueError``.
        """
        idx = _ids(idx, "idx", _ITEM_IDS)
        labels = _ids(labels, "labels", "class ids 0 .. n_classes - 1 (map label names "
                      "to their ids first)")
        if idx.shape != labels.shape:
            raise ValueError(f"{idx.size} items but {labels.size} labels")
        self._in_range(idx)
        bad = labels[(labels < 0) | (labels >= self.n_classes)]
        if bad.size:
            if int(bad[0]) == -1:
                raise ValueError("labels must be class ids, got -1: to take an answer "
                                 "back, forget(idx)")
            raise ValueError(
                f"labels must be in [0, {self.n_classes}), got {int(bad[0])}: this loop "
                f"has {self.n_classes} classes; if there are more, pass "
                "LabelingLoop(..., n_classes=)")
        held = idx[self.held_out[idx]] if idx.size else idx
        if held.size:  # its label would score the models on their own training row
            raise ValueError(f"item {int(held[0])} is held out (held_out=): its label scores "
                             "the models and is never taught; make a loop without it in "
                             "held_out to train on it")
        first: dict[int, int] = {}
        for i, c in zip(idx.tolist(), labels.tolist(), strict=True):
            if first.setdefault(i, c) != c:
                raise ValueError(f"item {i} is given two labels, {first[i]} and {c}")
        self.y[idx] = labels
        self.random_gold[idx if random else
                         [i for i in idx.tolist() if i in self._random_picks]] = True
        self._fitted = False
        return self.fit() if refit else self

    def _in_range(self, idx: np.ndarray) -> np.ndarray:
        """``idx``, or a ValueError when one is not an item of this loop."""
        if idx.size and (idx.min() < 0 or idx.max() >= self.y.size):
            raise ValueError(f"item indices must be in [0, {self.y.size})")
        return idx

    def forget(self, idx: Any, refit: bool = True) -> LabelingLoop:
        """Take back the answers for items ``idx`` (a slip, an undo): they are
        unlabeled again and may be asked again; items without an answer stay as
        they are. (By default) refits, as :meth:`teach` does."""
        idx = self._in_range(_ids(idx, "idx", _ITEM_IDS))
        self.y[idx] = -1
        self.random_gold[idx] = False
        self._fitted = False
        return self.fit() if refit else self

    def predict_proba(self, X: Any = None, L: Any = None) -> Proba:
        """Every item's label distribution: its gold label where known, else the
        end model's, which learns from the label model's soft labels and the gold
        and reads the items themselves (a loop made without ``X`` has none: the
        label model's). On the train splits of youtube, sms, yoruba, hausa and
        semeval the end model's labels of the items without gold are level with the
        label model's before any answer and 2 to 15 points ahead from 100 answers
        on, also where an LF votes (``docs/benchmarks_loop.md``).

        New items, not among the loop's (a test set, tomorrow's data): pass their
        ``X``, texts or a feature matrix as the loop was given; a loop without an
        end model takes their LF votes ``L`` instead (``apply_lfs`` with the same
        LFs, in the same order).
        """
        if not self._fitted:
            self.fit()
        if X is None and L is None:
            base = self.end_proba_ if self.end_proba_ is not None else self.lm_proba_
            out = np.array(base, dtype=np.float64)
            gold = self.y >= 0
            out[gold] = np.eye(self.n_classes)[self.y[gold]]
            return out
        return self._predict_new(X, L)

    def predict(self, X: Any = None, L: Any = None) -> np.ndarray:
        """Every item's most probable label (see :meth:`predict_proba`; new items
        with ``X``, or ``L`` for a loop without an end model)."""
        return self.predict_proba(X, L).argmax(axis=1)

    def _predict_new(self, X: Any, L: Any) -> Proba:
        """:meth:`predict_proba` of new items (see there)."""
        if self.end_model_ is not None:
            if X is None:
                raise ValueError("pass the new items' X (texts or features, as the loop "
                                 "was given): its end model labels them")
            if L is not None:
                raise ValueError("pass X alone: a loop with an end model labels new items "
                                 "from X (L is for a loop made without X)")
            return np.asarray(self.end_model_.predict_proba(self._new_features(X)),
                              dtype=np.float64)
        if X is not None:
            raise ValueError("this loop has no end model (it was made without X): "
                             "label new items from their LF votes, predict_proba(L=...)")
        L = check_label_matrix(L, n_classes=self.n_classes)
        if L.shape[1] != self.L.shape[1]:
            raise ValueError(f"L has {L.shape[1]} LFs, the loop has {self.L.shape[1]}: "
                             "apply the loop's LFs, in its order, to the new items")
        return np.asarray(self.label_model_.predict_proba(L), dtype=np.float64)

    def _new_features(self, X: Any) -> Any:
        """New items' end-model features: texts through the loop's own TF-IDF, a
        matrix as it is (it must have the loop's columns)."""
        texts = as_texts(X)
        if texts is not None:
            if self.features_ is None:
                raise ValueError("the loop was given a feature matrix, not texts: pass "
                                 "the new items' features, made the same way")
            return self.features_.transform(texts)
        if self.features_ is not None:
            raise ValueError("the loop was given texts: pass the new items' texts (a list "
                             "of strings), not a matrix")
        if hasattr(X, "columns"):
            X = X.to_numpy()
        elif not hasattr(X, "shape"):
            X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.X.shape[1]:
            raise ValueError(f"X has shape {X.shape}; the loop's features have "
                             f"{self.X.shape[1]} columns")
        return X
