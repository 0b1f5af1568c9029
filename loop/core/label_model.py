"""Label models: turn LF votes into probabilistic labels.

:class:`LabelModel` is a Dawid-Skene-style generative model fitted by a few EM
steps from majority vote, on the distinct vote patterns of ``L``. LFs that vote
several classes get a full confusion matrix (abstains missing at random); LFs
that only ever vote one class get a class-conditional firing rate. Gold labels,
where known, clamp the posterior of their rows and so anchor every estimate.
:class:`MajorityVote` is the baseline.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from loop.core.metrics import gold_accuracy, mixture_weights, significantly_better
from loop.core.types import Proba
from loop.core.validation import (
    check_gold,
    check_label_matrix,
    check_random_gold,
    infer_n_classes,
)

TIE_POLICIES = ("random", "first", "abstain")

#: A one-sided LF's precision before gold says otherwise (``accuracy_prior``).
ACCURACY_PRIOR = 0.7


def _check_abstentions(value: Any) -> None:
    """``LabelModel(abstentions=...)``: True, False, "use", "rates" or three weights."""
    if isinstance(value, tuple | list):
        w = np.asarray(value, dtype=np.float64)
        if w.shape == (3,) and np.all(w >= 0) and w.sum() > 0:
            return
    elif value in (True, False, "use", "rates"):
        return
    raise ValueError(f"abstentions must be True, False, 'use', 'rates' or three weights "
                     f"(votes, silences, rates) >= 0 with a positive sum, got {value!r}")


def _reading_name(weights: Any) -> str:
    """The heavier of the two readings besides votes alone: "silence" or "rates";
    "votes" when neither has any weight (a trial read "silence" beside a weight of
    0 for it)."""
    if weights[1] <= 0 and weights[2] <= 0:
        return "votes"
    return "rates" if weights[2] > weights[1] else "silence"


def _argmax_with_ties(proba: Proba, tie_policy: str, random_state: Any) -> np.ndarray:
    """Argmax per row; ties broken by ``tie_policy`` (seeded when random)."""
    top = proba.max(axis=1, keepdims=True)
    is_top = np.isclose(proba, top, rtol=1e-9, atol=1e-12)
    n_top = is_top.sum(axis=1)
    pred = proba.argmax(axis=1).astype(np.int64)
    tied = n_top > 1
    if tied.any():
        if tie_policy == "abstain":
            pred[tied] = -1
        elif tie_policy == "random":
            rng = check_random_state(random_state)
            for i in np.flatnonzero(tied):
                pred[i] = rng.choice(np.flatnonzero(is_top[i]))
    return pred


def vote_counts(L: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_items, n_classes) number of LFs voting each class on each row.

    >>> vote_counts(np.array([[0, 0, -1], [1, -1, 0]]), 2).tolist()
    [[2, 0], [1, 1]]
    """
    return np.stack([(L == c).sum(axis=1) for c in range(n_classes)], axis=1)


def unique_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of an integer matrix: ``(rows, inverse, counts)``.

    Rows are hashed to 64 bits and the grouping is verified exactly; on the
    (astronomically rare) hash collision it falls back to ``np.unique(axis=0)``.

    >>> rows, inv, counts = unique_rows(np.array([[1, -1], [0, 0], [1, -1]]))
    >>> rows[inv].tolist(), sorted(counts.tolist())
    ([[1, -1], [0, 0], [1, -1]], [1, 2])
    """
    n, m = M.shape
    rng = np.random.default_rng(0x5EED)
    mult = rng.integers(1, 2**62, size=m, dtype=np.int64) | 1
    key = np.zeros(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        for j in range(m):
            key = key * np.int64(1_000_003) + (M[:, j].astype(np.int64) + 2) * mult[j]  # type: ignore[index]
    _, index, inverse, counts = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    rows = M[index]
    if not np.array_equal(rows[inverse], M):  # pragma: no cover - hash collision
        rows, inverse, counts = np.unique(M, axis=0, return_inverse=True, return_counts=True)
    return rows, inverse.ravel(), counts


def _one_hot_votes(P: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """Sparse (n_rows, n_lfs * n_classes) indicator of LF ``j`` voting ``v``."""
    rows, lfs = np.nonzero(P >= 0)
    cols = lfs * n_classes + P[rows, lfs].astype(np.int64)
    data = np.ones(rows.size, dtype=np.float64)
    return sp.csr_matrix((data, (rows, cols)), shape=(P.shape[0], P.shape[1] * n_classes))


#: L-BFGS steps of the gold layer's regression at most (a few hundred gold rows).
GOLD_LAYER_MAX_ITER = 300


class _QuietRegression(LogisticRegression):  # type: ignore[misc]
    """The gold layer's classifier: one thread (on 2 busy cores, OpenMP threads made
    a 178-row fit on semeval take 4 s instead of 0.2 s), quiet at its step limit.
    At module level so that a fitted LabelModel pickles (a user's joblib.dump of a
    model with a gold layer failed: "Can't pickle local object")."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().fit(X, y, sample_weight)


def _layer_regression() -> Any:
    """A new gold-layer classifier (:class:`_QuietRegression`)."""
    return _QuietRegression(C=1.0, max_iter=GOLD_LAYER_MAX_ITER)


def _is_weight(value: Any) -> bool:
    """A blend weight of the gold layer kept from an earlier check: a number in (0, 1]."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0.0 < float(value) <= 1.0)


def _layer_features(L: np.ndarray, proba: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """The gold layer's inputs: one-hot votes and the log-posterior."""
    logp = np.log(np.clip(proba, 1e-6, 1.0))
    return sp.hstack([_one_hot_votes(L, n_classes), sp.csr_matrix(logp)], format="csr")


#: Up to this many rows, :meth:`LabelModel._log_joint` sums the LF weights row by
#: row instead of through tables of every vote combination (the gold check predicts
#: held-out folds of a few hundred rows 16 times per fit).
_DIRECT_ROWS = 4096


def _covered_rows(L: np.ndarray) -> np.ndarray:
    """Bool mask of rows with at least one vote (column-wise, fast for tall L)."""
    covered = np.zeros(L.shape[0], dtype=bool)
    for j in range(L.shape[1]):
        covered |= L[:, j] >= 0
    return covered


class MajorityVote(BaseEstimator):
    """Majority vote over the non-abstaining LFs.

    Parameters
    ----------
    n_classes
        Size of the label space; inferred from ``L`` (and ``y``) when ``None``.
    tie_policy
        How :meth:`predict` breaks ties and treats rows with no votes:
        ``"random"`` (uniform among the tied classes, seeded by
        ``random_state``), ``"first"`` (lowest class id) or ``"abstain"``
        (predict -1).
    random_state
        Seed for ``tie_policy="random"``.

    >>> MajorityVote().fit([[0, 0, 1], [1, -1, -1]]).predict([[0, 0, 1]]).tolist()
    [0]
    """

    def __init__(
        self, n_classes: int | None = None, tie_policy: str = "random", random_state: Any = None
    ) -> None:
        self.n_classes = n_classes
        self.tie_policy = tie_policy
        self.random_state = random_state

    def fit(self, L: Any, y: Any = None, random_gold: Any = None) -> MajorityVote:
        """Record the label space; majority vote has nothing to learn.

        ``random_gold`` is taken as :meth:`LabelModel.fit` takes it, and not used,
        so that majority vote can stand in for the label model of a
        :class:`~loop.core.labeling_loop.LabelingLoop` (``label_model=MajorityVote()``
        was a TypeError)."""
        if self.tie_policy not in TIE_POLICIES:
            raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {self.tie_policy!r}")
        L = check_label_matrix(L, n_classes=self.n_classes)
        y = None if y is None else check_gold(y, L.shape[0], self.n_classes)
        self.n_classes_ = infer_n_classes(L, y, self.n_classes)
        self.classes_ = np.arange(self.n_classes_)
        self.n_lfs_ = L.shape[1]
        # Class balance for rows without votes: gold labels where given, else
        # the vote shares of the covered training rows.
        self.class_prior_ = np.full(self.n_classes_, 1.0 / self.n_classes_)
        if y is not None and (y >= 0).any():
            counts = np.bincount(y[y >= 0], minlength=self.n_classes_).astype(float)
        else:
            counts = self._vote_shares(L)[(L >= 0).any(axis=1)].sum(axis=0)
        if counts.sum() > 0:
            self.class_prior_ = (counts + 1.0) / (counts.sum() + self.n_classes_)
        return self

    def _vote_shares(self, L: np.ndarray) -> np.ndarray:
        counts = vote_counts(L, self.n_classes_).astype(np.float64)
        total = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)

    def predict_proba(self, L: Any) -> Proba:
        """Vote shares per class; ``class_prior_`` for rows with no votes."""
        check_is_fitted(self, "n_classes_")
        L = check_label_matrix(L, n_classes=self.n_classes_)
        if L.shape[1] != self.n_lfs_:
            raise ValueError(f"L has {L.shape[1]} LFs, the model was fit with {self.n_lfs_}")
        proba = self._vote_shares(L)
        proba[(L < 0).all(axis=1)] = self.class_prior_
        return proba

    def predict(self, L: Any) -> np.ndarray:
        """Most voted class per row, ties by ``tie_policy``."""
        proba = self.predict_proba(L)
        pred = _argmax_with_ties(proba, self.tie_policy, self.random_state)
        if self.tie_policy == "abstain":
            pred[(np.asarray(L) == -1).all(axis=1)] = -1
        return pred

    def score(self, L: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on the rows whose gold ``y`` is known, as
        :meth:`LabelModel.score` (a user comparing the two called it on both)."""
        return gold_accuracy(self.predict(L), y)


class LabelModel(BaseEstimator):
    """Generative label model fitted by EM, anchored by gold labels where known.

    Model (LFs conditionally independent given the true class ``Y``):

    * an LF that votes two or more classes in the training data has a full
      confusion matrix ``P(vote v | Y=c, it votes)`` and abstains at random,
      as in Dawid & Skene; EM learns it (it can learn an LF worse than random);
    * an LF that only ever votes one class ``v`` ("one-sided", e.g. a keyword
      rule) is described by its precision ``p = P(Y=v | it fires)``; the other
      classes share ``1 - p`` in proportion to their prevalence. Without gold
      labels ``p`` is ``accuracy_prior`` for every one-sided LF: on sparse
      one-sided LFs the data hardly identify per-LF precisions, and EM that
      tries drifts to spurious modes (it reinforces whatever an LF already
      says on the rows only it covers). Gold labels estimate each LF's
      precision (Beta prior of ``precision_strength`` pseudo-votes). A
      consequence of constant precision: a vote for a rare class is stronger
      evidence than one for a common class, which settles most conflicts;
    * a class balance ``class_prior_``, learned by EM.

    EM starts from majority-vote shares and alternates posteriors with MAP
    estimates (Dirichlet pseudo-counts toward ``accuracy_prior``) until no
    posterior moves more than ``tol``. Gold rows (``y >= 0``) have their
    posterior clamped to the known class (weighted by ``gold_weight``), so
    they anchor confusions, precisions and the class balance. Rows where
    every LF abstains take no part in EM and are predicted ``uncovered_prior_``.

    Scaling: EM runs on the distinct (votes, gold) patterns, with sparse
    one-hot votes, never a dense ``n x (n_lfs * n_classes)`` matrix. When
    ``L`` has more than ``max_fit_rows`` rows, EM is fitted on a fixed-seed
    uniform subsample of ``max_fit_rows`` unlabeled rows (plus every gold
    row); all rows are still predicted. Prediction is a table look-up on
    groups of LF columns, so it costs a few passes over ``L``.

    Parameters
    ----------
    n_classes
        Size of the label space; inferred from ``L`` and ``y`` when ``None``.
    class_balance
        ``"learn"``: the class prior is re-estimated by EM. ``"votes"``: it is
        fixed to the smoothed majority-vote shares of the covered rows.
    accuracy_prior
        Prior probability that an LF's vote is right (the precision of
        one-sided LFs without gold; the diagonal prior of confusions).
    prior_strength
        Dirichlet pseudo-counts behind the confusion prior, per LF and class.
    precision_strength
        Pseudo-votes behind ``accuracy_prior`` when gold labels estimate a
        one-sided LF's precision.
    gold_weight
        How many unlabeled rows one gold row counts for in the fit.
    balance_strength
        Pseudo-rows of EM's own class balance against which the random gold's
        class counts update it (see :data:`GOLD_USES`; 0 = EM's balance alone).
    gold_check
        Check on the random gold itself that it helps (see :meth:`fit`).
    gold_check_min
        Random gold rows needed before the check runs.
    gold_layer
        With the check on, also try a logistic regression on top, fitted on
        the random gold: its inputs are the LF votes (one-hot) and the model's
        log-posterior, so it can discount LFs that fire together or correct a
        confused pair. Where it predicts more held-out random gold right than the
        model, predictions blend its posterior with the model's by the weight that
        makes those rows likeliest (``gold_layer_weight_``; 0: no layer; see
        :meth:`_fit_gold_layer`). ``"use"``: fit
        the layer and predict by it alone, a weight in (0, 1]: blend it so,
        without checking (a decision of an earlier check kept, see ``gold_use``).
    abstentions
        With the check on, also try reading an abstention as evidence at
        prediction: LF ``j`` silent on a row adds ``log(1 - coverage_[j, c])``
        for class ``c`` (and a two-sided LF's vote ``log coverage_[j, c]``), so
        a one-sided rule that fires on most of its class's items speaks against
        that class where it is silent. The check also tries reading every vote
        by the rates alone: a one-sided LF that fires adds ``log coverage_[j,
        c]`` instead of its precision's weight, a naive Bayes over firing and
        silence whose rates are the fitted model's (its posteriors' firing
        rates per class). Predictions blend the three readings with the
        weights that make the held-out random gold likeliest
        (:func:`~loop.core.metrics.mixture_weights`; ``reading_weights_``): on
        a hundred rows one reading is rarely significantly better than another,
        a blend of them is better than either. The gold layer reads the
        readings' blend. ``"use"`` / ``"rates"``: read
        silences / rates without checking, a tuple of three weights: blend the
        readings so (a decision of an earlier check kept).
    gold_use
        ``None``: the check decides how the random gold enters the fit. One of
        :data:`GOLD_USES`: that way, without checking: what an earlier check of
        a model on much the same gold decided (``gold_check_["use"]``), kept by
        :func:`loop.core.step.fit_label_model` until the random gold has grown
        by a quarter, because a check costs 15 fits.
    max_iter
        Number of EM steps at most.
    tol
        EM stops when no posterior moves by more than ``tol``.
    max_fit_rows
        Fit on a fixed subsample of this many unlabeled rows when ``L`` is
        larger (``None`` = always use every row).
    tie_policy
        How :meth:`predict` breaks exact ties: ``"random"``, ``"first"`` or
        ``"abstain"`` (-1).
    random_state
        Seed for tie breaking only. The fit itself is deterministic.

    Attributes
    ----------
    n_classes_, classes_, n_lfs_
        The label space and the number of LFs seen in ``fit``.
    class_prior_ : (n_classes,) class balance of the rows some LF votes on.
    uncovered_prior_ : (n_classes,) class balance predicted for rows where every
        LF abstains: ``class_prior_`` updated by the random gold labels of such
        rows (``prior_strength`` pseudo-counts).
    accuracy_ : (n_lfs,) learned probability that each LF's vote is right
        (the precision for one-sided LFs; NaN for an LF that never voted). A
        one-sided LF's precision is learned from random gold only: fitted without
        any, it is ``accuracy_prior`` for every one of them, assumed, not learned.
    coverage_ : (n_lfs, n_classes) probability that LF ``j`` votes given the
        true class ``c``.
    confusion_ : (n_lfs, n_classes, n_classes) probability that LF ``j``
        votes ``v`` given true class ``c`` and that it votes.
    one_sided_ : (n_lfs,) bool, LFs that voted at most one class in ``fit``.
    n_uncovered_ : rows of the training ``L`` with no vote and no gold label.
    n_iter_, converged_
        EM diagnostics (``converged_`` is True when ``tol`` was reached).
    gold_check_ : what the check on the random gold found (None without it);
        ``"kept": True`` when the fit took an earlier check's decisions
        (``gold_use``).
    gold_layer_ : the fitted gold layer (a scikit-learn ``LogisticRegression``),
        or None when it is not used.
    gold_layer_weight_ : its weight in the blend with the model's posterior
        (0 without a layer).
    abstentions_used_ : whether predictions read abstentions as evidence
        (``abstentions``): False, True, or ``"rates"`` (votes read by the
        firing rates too); with a blend, its heaviest reading.
    reading_weights_ : (3,) weights of the readings votes, silences and rates
        that predictions blend (None: ``abstentions_used_`` alone).

    >>> L = [[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1]]
    >>> LabelModel().fit(L).predict(L).tolist()
    [0, 1, 0, 1]
    """

    def __init__(
        self,
        n_classes: int | None = None,
        class_balance: str = "learn",
        accuracy_prior: float = ACCURACY_PRIOR,
        prior_strength: float = 2.0,
        precision_strength: float = 20.0,
        gold_weight: float = 1.0,
        gold_check: bool = True,
        balance_strength: float = 20.0,
        gold_check_min: int = 30,
        gold_layer: bool | str | float = True,
        gold_use: str | None = None,
        abstentions: bool | str | tuple[float, float, float] = True,
        max_iter: int = 100,
        tol: float = 1e-3,
        max_fit_rows: int | None = 20_000,
        tie_policy: str = "random",
        random_state: Any = None,
    ) -> None:
        self.n_classes = n_classes
        self.class_balance = class_balance
        self.accuracy_prior = accuracy_prior
        self.prior_strength = prior_strength
        self.precision_strength = precision_strength
        self.gold_weight = gold_weight
        self.gold_check = gold_check
        self.balance_strength = balance_strength
        self.gold_check_min = gold_check_min
        self.gold_layer = gold_layer
        self.gold_use = gold_use
        self.abstentions = abstentions
        self.max_iter = max_iter
        self.tol = tol
        self.max_fit_rows = max_fit_rows
        self.tie_policy = tie_policy
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------
    def _check_params(self) -> None:
        if self.tie_policy not in TIE_POLICIES:
            raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {self.tie_policy!r}")
        if self.class_balance not in ("learn", "votes"):
            raise ValueError(
                f"class_balance must be 'learn' or 'votes', got {self.class_balance!r}"
            )
        if not self.precision_strength > 0:
            raise ValueError(f"precision_strength must be > 0, got {self.precision_strength}")
        if not 0.0 < self.accuracy_prior < 1.0:
            raise ValueError(f"accuracy_prior must be in (0, 1), got {self.accuracy_prior}")
        if not self.prior_strength > 0:
            raise ValueError(f"prior_strength must be > 0, got {self.prior_strength}")
        if not self.balance_strength >= 0:
            raise ValueError(f"balance_strength must be >= 0, got {self.balance_strength}")
        if not self.gold_weight > 0:
            raise ValueError(f"gold_weight must be > 0, got {self.gold_weight}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.max_fit_rows is not None and int(self.max_fit_rows) < 1:
            raise ValueError(f"max_fit_rows must be >= 1 or None, got {self.max_fit_rows}")

    def fit(self, L: Any, y: Any = None, random_gold: Any = None) -> LabelModel:
        """Fit on ``L``; entries of ``y`` other than -1 are known classes.

        Random gold re-estimates the one-sided LFs' precisions and anchors the
        class balance (the first of :data:`GOLD_USES`). With ``gold_check`` and at
        least ``gold_check_min`` random gold rows, that is checked on the gold
        itself (:meth:`_cross_check`): if another way of letting the gold in
        predicts held-out gold rows significantly better, the model is fitted
        that way (``gold_check_`` says what was found).

        Parameters
        ----------
        L
            (n_items, n_lfs) int, -1 = abstain.
        y
            Optional (n_items,) int gold labels, -1 where unknown.
        random_gold
            Optional (n_items,) bool: which gold rows were sampled at random
            from the items. Only those re-estimate the one-sided LFs'
            precisions; gold picked by an active-learning sampler is biased
            towards the items where an LF is wrong, so it only clamps its own
            rows and anchors EM. Default: every gold row counts as random (a
            random dev set). The loop passes its exploration picks.
        """
        self.gold_check_: dict[str, Any] | None = None
        self.gold_layer_: Any = None
        self.abstentions_used_: bool | str = False
        self.reading_weights_: np.ndarray | None = None
        if self.gold_layer not in (True, False, "use") and not _is_weight(self.gold_layer):
            raise ValueError("gold_layer must be True, False, 'use' or a weight in (0, 1], "
                             f"got {self.gold_layer!r}")
        self.gold_layer_weight_ = 0.0
        _check_abstentions(self.abstentions)
        if self.gold_use is not None:
            return self._fit_kept(L, y, random_gold)
        use = self.GOLD_USES[0]
        checked = False
        if self.gold_check and y is not None:
            Lc, yv, rg = self._random_gold_rows(L, y, random_gold)
            if int(rg.sum()) >= int(self.gold_check_min):
                Lc, yv, rg = self._check_rows(Lc, yv, rg)
                self.gold_check_ = self._cross_check(Lc, yv, rg)
                use = self.gold_check_["use"]
                checked = True
        self._fit_way(use, L, y, random_gold)
        if checked and self.gold_check_ is not None:
            silent = self.gold_check_.get("abstentions")
            if silent and silent["used"]:
                self._use_weights([silent["weights"][self.READING_NAMES[r]]
                                   for r in self.READINGS])
            if self.gold_layer:  # on top of the readings as blended
                self.gold_layer_, self.gold_check_["gold_layer"] = self._fit_gold_layer(
                    Lc, yv, rg, use)
        return self

    def _use_weights(self, weights: Any) -> None:
        """Predict with the readings blended by ``weights`` (one reading alone when
        every other weight is 0)."""
        w = np.asarray(weights, dtype=np.float64)
        w = w / w.sum()
        self.abstentions_used_ = self.READINGS[int(np.argmax(w))]
        self.reading_weights_ = None if np.count_nonzero(w) == 1 else w

    def _fit_kept(self, L: Any, y: Any, random_gold: Any) -> LabelModel:
        """:meth:`fit` with the decisions of an earlier check (``gold_use``, and
        ``gold_layer="use"``) instead of a check."""
        if self.gold_use not in self.GOLD_USES:
            raise ValueError(f"gold_use must be None or one of {self.GOLD_USES}, "
                             f"got {self.gold_use!r}")
        self._fit_way(self.gold_use, L, y, random_gold)
        if y is None:
            return self
        self.gold_check_ = {"use": self.gold_use, "kept": True}
        if self.abstentions in ("use", "rates") or isinstance(self.abstentions, tuple | list):
            w = (self.abstentions if isinstance(self.abstentions, tuple | list) else
                 (0.0, 1.0, 0.0) if self.abstentions == "use" else (0.0, 0.0, 1.0))
            self._use_weights(w)
            self.gold_check_["abstentions"] = {
                "used": True, "kept": True, "reading": _reading_name(w),
                "weights": {self.READING_NAMES[r]: float(x) for r, x in zip(self.READINGS, w,
                                                                             strict=True)}}
        if self.gold_layer == "use" or _is_weight(self.gold_layer):
            Lk, yk, rk = self._check_rows(*self._random_gold_rows(L, y, random_gold))
            self.gold_layer_, self.gold_check_["gold_layer"] = self._fit_gold_layer(
                Lk, yk, rk, self.gold_use,
                weight=1.0 if self.gold_layer == "use" else float(self.gold_layer))
        return self

    def _random_gold_rows(self, L: Any, y: Any, random_gold: Any
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``L`` and ``y`` checked, and the mask of the random gold rows."""
        Lc = check_label_matrix(L, n_classes=self.n_classes)
        yv = check_gold(y, Lc.shape[0], self.n_classes)
        # The label space of the whole fit: the check's and the gold layer's refits
        # leave out folds of the gold, and inferred from what is left they lost a
        # class only the gold holds (an IndexError, with n_classes=None)
        self._fit_n_classes = infer_n_classes(Lc, yv, self.n_classes)
        rg = yv >= 0
        if random_gold is not None:
            rg &= check_random_gold(random_gold, rg.size)
        return Lc, yv, rg

    def _check_rows(self, L: np.ndarray, y: np.ndarray, rg: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows the gold check and the gold layer fit on: every row up to
        ``max_fit_rows`` unlabeled ones, else the same fixed subsample of them
        :meth:`_fit` takes plus every gold row, drawn once instead of by each of the
        check's 15 fits (whose cost was then that of scanning all of ``L``)."""
        cap = self.max_fit_rows
        unl = np.flatnonzero(y < 0)
        if cap is None or unl.size <= int(cap):
            return L, y, rg
        keep = np.zeros(y.size, dtype=bool)
        keep[unl[np.random.default_rng(0).choice(unl.size, int(cap), False)]] = True
        keep |= y >= 0
        return L[keep], y[keep], rg[keep]

    _log_prior: np.ndarray
    _W3: np.ndarray
    class_prior_: np.ndarray

    #: How the random gold may enter the fit, in order of preference: it
    #: re-estimates LF precisions and anchors the class balance ("anchored": a
    #: Dirichlet of ``balance_strength`` pseudo-rows around EM's balance, updated
    #: by the random gold's class counts); it re-estimates precisions only
    #: ("gold"); it only clamps its own rows ("clamp_only"); or the fit ignores it
    #: ("none"). Chosen on the synthetic families and the shared sets' train ->
    #: valid splits (docs/label_model_design.md): without the anchor, precisions
    #: re-estimated from gold let EM's class balance run away on sets with
    #: correlated rules (0.48 -> 0.72 for one class of a 3-class family, 4 points
    #: worse than no gold at all), and EM ignored what 1,000 gold rows said of it.
    GOLD_USES = ("anchored", "gold", "clamp_only", "none")
    #: Random gold rows from which the gold layer is blended in by the weight that
    #: makes them likeliest; below, it is used alone where it predicts significantly
    #: more of them right, else not at all. On sms's loop (30 random answers, 4 of
    #: them spam) the weight put the layer, which called every item ham, at 1.0 and
    #: took the end model's F1 from 0.968 to 0.545 (docs/label_model_design.md).
    GOLD_LAYER_BLEND_MIN = 100
    #: How a prediction reads the votes (``abstentions_used_``): votes only (False),
    #: votes and silences (True), every vote and silence by the firing rates ("rates").
    READINGS: tuple[bool | str, ...] = (False, True, "rates")
    #: Their names in ``gold_check_``.
    READING_NAMES: dict[bool | str, str] = {False: "votes", True: "silence", "rates": "rates"}

    def _fit_way(self, use: str, L: Any, y: Any, random_gold: Any) -> LabelModel:
        """Fit in place, letting the random gold in the way ``use`` says."""
        if use == "none" or y is None:
            return self._fit(L, None)
        if use == "clamp_only":
            random_gold = np.zeros(np.shape(y)[0], dtype=bool)
        return self._fit(L, y, random_gold,
                         anchor=float(self.balance_strength) if use == "anchored" else 0.0)

    def _fit_use(self, use: str, L: np.ndarray, y: np.ndarray, rg: np.ndarray) -> LabelModel:
        """A fresh copy fitted the way ``use`` says (no check), reading abstentions
        as this model does."""
        model = clone(self).set_params(
            gold_check=False, n_classes=getattr(self, "_fit_n_classes", self.n_classes),
        )._fit_way(use, L, y, rg)
        model.abstentions_used_ = getattr(self, "abstentions_used_", False)
        model.reading_weights_ = getattr(self, "reading_weights_", None)
        return model

    def _cross_check(self, L: Any, y: np.ndarray, rg: np.ndarray, n_folds: int = 3
                     ) -> dict[str, Any]:
        """How should the random gold enter the fit? Three folds of it: each held
        out in turn, the model is fitted each way of :data:`GOLD_USES` with the
        other folds and scored on the held-out rows. The first way is kept
        unless another predicts them better by more than two standard errors of
        the paired difference (:func:`~loop.core.metrics.significantly_better`).
        The readings of the votes (:data:`READINGS`) of the way kept are then
        blended by the weights that make the held-out rows likeliest.
        ``L`` is checked already (:meth:`fit`)."""
        idx = np.flatnonzero(rg)
        order = np.random.default_rng(0).permutation(idx.size)
        folds = np.array_split(idx[order], n_folds)
        # per way and reading of the votes: held-out rows right, and the
        # log-probability of each one's true class
        readings = self.READINGS if self.abstentions else self.READINGS[:1]
        right = {(u, r): np.zeros(idx.size, dtype=bool)
                 for u in self.GOLD_USES for r in readings}
        logp = {(u, r): np.zeros(idx.size) for u in self.GOLD_USES for r in readings}
        pos = 0
        for fold in folds:
            y_f = y.copy()
            y_f[fold] = -1
            rg_f = rg.copy()
            rg_f[fold] = False
            at = slice(pos, pos + fold.size)
            for u in self.GOLD_USES:
                model = self._fit_use(u, L, y_f, rg_f)
                model.reading_weights_ = None
                for r in readings:
                    model.abstentions_used_ = r  # the same fit, read another way
                    p = model.predict_proba(L[fold])
                    right[u, r][at] = _argmax_with_ties(p, self.tie_policy,
                                                        self.random_state) == y[fold]
                    logp[u, r][at] = np.log(np.clip(p[np.arange(fold.size), y[fold]],
                                                    1e-6, None))
            pos += fold.size
        use, best = self.GOLD_USES[0], right[self.GOLD_USES[0], False]
        for u in self.GOLD_USES[1:]:
            if significantly_better(right[u, False], best):
                use, best = u, right[u, False]
        out: dict[str, Any] = {"use": use, "n_random_gold": int(idx.size),
                               "n_lfs": int(L.shape[1]),
                               "correct": {u: int(right[u, False].sum())
                                           for u in self.GOLD_USES}}
        if self.abstentions:
            # how to read the votes, by the held-out log-likelihood: the readings
            # mostly agree on the argmax, so rows right could not tell them apart,
            # and on a hundred rows one is rarely significantly likelier than
            # another, while a blend is likelier than either (docs/
            # label_model_design.md, "Readings blended by the gold")
            P = np.stack([logp[use, r] for r in self.READINGS], axis=1)
            w = mixture_weights(P)
            blend = np.log(np.clip(np.exp(P) @ w, 1e-6, None))
            out["abstentions"] = {
                "used": bool(w[0] < 1), "reading": _reading_name(w),
                "weights": {self.READING_NAMES[r]: round(float(x), 3)
                            for r, x in zip(self.READINGS, w, strict=True)},
                "correct": int(right[use, True].sum()),
                "correct_rates": int(right[use, "rates"].sum()),
                "log_likelihood": {**{self.READING_NAMES[r]: round(float(logp[use, r].mean()), 4)
                                      for r in self.READINGS},
                                   "blend": round(float(blend.mean()), 4)}}
        return out

    def _fit_gold_layer(self, L: Any, y: np.ndarray, rg: np.ndarray, use: str,
                        weight: float | None = None) -> tuple[Any, dict[str, Any]]:
        """A logistic regression over the LF votes (one-hot) and this model's
        log-posterior, fitted on the random gold, and how much of a prediction it
        makes: the weight of its posterior in a blend with the model's that makes
        held-out random gold likeliest (three folds;
        :func:`~loop.core.metrics.mixture_weights`; ``gold_layer_weight_``), from
        :data:`GOLD_LAYER_BLEND_MIN` rows on and where it predicts more of them
        right than the model (else 0); with fewer rows, 1 where it predicts more of
        them right by two standard errors, else 0. The
        model's posteriors of the gold rows it is fitted on come from models
        fitted without them, as at prediction time. ``weight``: fitted and blended
        so, without the held-out comparison (a kept decision).
        Returns ``(layer or None, report)``."""
        k = self.n_classes_
        idx = np.flatnonzero(rg)
        yg = y[idx]
        if np.unique(yg).size < k:
            return None, {"used": False, "why": "a class has no random gold yet"}
        # folds as positions into idx (the gold rows)
        folds = np.array_split(np.random.default_rng(1).permutation(idx.size), 3)
        lp = np.zeros((idx.size, k))
        for fold in folds:  # out-of-fold posteriors of the gold rows
            y_f, rg_f = y.copy(), rg.copy()
            y_f[idx[fold]], rg_f[idx[fold]] = -1, False
            lp[fold] = self._fit_use(use, L, y_f, rg_f).predict_proba(L[idx[fold]])
        X = _layer_features(L[idx], lp, k)
        if weight is not None:
            self.gold_layer_weight_ = float(weight)
            return _layer_regression().fit(X, yg), {"used": True, "kept": True,
                                                     "weight": float(weight)}
        pl = np.zeros((idx.size, k))  # out-of-fold posteriors of the layer
        for fold in folds:
            rest = np.setdiff1d(np.arange(idx.size), fold)
            if np.unique(yg[rest]).size < 2:
                pl[fold] = lp[fold]
                continue
            clf = _layer_regression().fit(X[rest], yg[rest])
            pl[np.ix_(fold, clf.classes_)] = clf.predict_proba(X[fold])
        rows = np.arange(idx.size)
        logp = np.log(np.clip(np.stack([lp[rows, yg], pl[rows, yg]], axis=1), 1e-6, None))
        right_model, right_layer = lp.argmax(axis=1) == yg, pl.argmax(axis=1) == yg
        if idx.size >= self.GOLD_LAYER_BLEND_MIN:
            # weighed by likelihood only where it predicts more of them right: an
            # overconfident model is unlikely on the rows it gets wrong, and a layer
            # right on fewer rows won the weight (crowd_face, 100 random labels: 57
            # against 60 right, weight 0.86, 4 points lost on the other rows)
            w = (round(float(mixture_weights(logp)[1]), 3)  # as reported, and kept
                 if right_layer.sum() > right_model.sum() else 0.0)
        else:  # too few rows to weigh it: all or nothing, on rows right
            w = 1.0 if significantly_better(right_layer, right_model) else 0.0
        blend = np.log(np.clip(np.exp(logp) @ [1 - w, w], 1e-6, None))
        report = {"used": w > 0, "weight": w,
                  "correct": {"model": int(right_model.sum()), "layer": int(right_layer.sum())},
                  "log_likelihood": {"model": round(float(logp[:, 0].mean()), 4),
                                     "layer": round(float(logp[:, 1].mean()), 4),
                                     "blend": round(float(blend.mean()), 4)}}
        if w <= 0:
            return None, report
        self.gold_layer_weight_ = w
        return _layer_regression().fit(X, yg), report

    def _fit(self, L: Any, y: Any = None, random_gold: Any = None, anchor: float = 0.0
             ) -> LabelModel:
        """The fit itself (see :meth:`fit`); ``anchor`` > 0: pseudo-rows of EM's class
        balance against which the random gold's class counts update it."""
        self._anchor = float(anchor)
        self._check_params()
        L = check_label_matrix(L, n_classes=self.n_classes)
        n, m = L.shape
        y = None if y is None else check_gold(y, n, self.n_classes)
        if random_gold is not None:
            random_gold = check_random_gold(random_gold, n)
        k = infer_n_classes(L, y, self.n_classes)
        self.n_classes_, self.n_lfs_ = k, m
        self.classes_ = np.arange(k)
        L = L.astype(np.int8 if k <= 127 else np.int16, copy=False)
        has_gold = y is not None and bool((y >= 0).any())

        # Rows used for fitting (a fixed subsample when L is huge).
        covered = _covered_rows(L)
        self.n_uncovered_ = int(n - np.count_nonzero(covered))
        if has_gold:
            self.n_uncovered_ -= int(np.count_nonzero((y >= 0) & ~covered))
        rows = None
        if self.max_fit_rows is not None and n > int(self.max_fit_rows):
            unl = np.flatnonzero(y < 0) if has_gold else np.arange(n)
            if unl.size > int(self.max_fit_rows):
                pick = np.random.default_rng(0).choice(unl.size, int(self.max_fit_rows), False)
                keep_rows = np.zeros(n, dtype=bool)
                keep_rows[unl[pick]] = True
                if has_gold:
                    keep_rows |= y >= 0
                rows = np.flatnonzero(keep_rows)
        Lf = L if rows is None else L[rows]
        yf = None if not has_gold else (y if rows is None else y[rows])

        # Distinct (votes, gold) patterns with their multiplicities.
        if yf is None:
            P, _, counts = unique_rows(Lf)
            gold = np.full(P.shape[0], -1, dtype=np.int64)
        else:
            # Active (non-random) gold rows are coded y + k so they stay apart.
            code = yf.copy()
            if random_gold is not None:
                rg = random_gold if rows is None else random_gold[rows]
                code[(code >= 0) & ~rg] += k
            Pg, _, counts = unique_rows(np.hstack([Lf.astype(np.int16), code[:, None]]))
            P, gold = Pg[:, :-1].astype(Lf.dtype), Pg[:, -1].astype(np.int64)
        is_active = gold >= k
        gold[is_active] -= k
        w = counts.astype(np.float64)
        is_gold = gold >= 0
        w[is_gold] *= float(self.gold_weight)
        # Rows without a vote tell nothing about the LFs: EM runs on covered rows
        # only. Gold labels on uncovered rows set ``uncovered_prior_`` instead (they
        # would otherwise drag the class balance of covered rows, and an active
        # sampler picks them far from at random).
        voted = (P >= 0).any(axis=1)
        unc = ~voted & is_gold & ~is_active
        unc_gold = np.bincount(gold[unc], weights=counts[unc], minlength=k)
        if not voted.any():
            raise ValueError("L has no votes at all: every LF abstains on every row")
        P, gold, w = P[voted], gold[voted], w[voted]
        is_gold, is_active = is_gold[voted], is_active[voted]

        A = _one_hot_votes(P, k)
        At = A.T.tocsr()
        n_voted = np.zeros((m, k), dtype=bool)
        n_voted[np.nonzero(P >= 0)[1], P[P >= 0]] = True
        self.one_sided_ = n_voted.sum(axis=1) <= 1
        # Gold votes per LF: G[j, v, c] = weight of gold rows of class c where j voted v.
        Rg = np.zeros((P.shape[0], k))
        learn = is_gold & ~is_active
        Rg[learn] = np.eye(k)[gold[learn]] * w[learn, None]
        self._gold_S = np.asarray(At @ Rg).reshape(m, k, k)
        self._gold_n = Rg.sum(axis=0)  # random gold rows per class (covered rows)
        self._polarity = np.where(n_voted.any(axis=1), n_voted.argmax(axis=1), 0)

        one_votes = float((P[:, self.one_sided_] >= 0).sum(axis=1) @ w)
        self._prior_step = 1.0 / max(1.0, one_votes / max(float(w.sum()), 1e-12))
        # Start from smoothed majority-vote shares; gold rows clamped.
        R = np.asarray(A @ np.tile(np.eye(k), (m, 1))) + 1e-3
        R /= R.sum(axis=1, keepdims=True)
        onehot_gold = np.eye(k)[gold[is_gold]]
        R[is_gold] = onehot_gold
        self._vote_prior = None
        self.converged_ = False
        for it in range(1, int(self.max_iter) + 1):
            self._m_step(At, R, w, m, k)
            logp = self._log_prior + np.asarray(A @ self._W3.reshape(m * k, k))
            logp -= logp.max(axis=1, keepdims=True)
            R_new = np.exp(logp)
            R_new /= R_new.sum(axis=1, keepdims=True)
            R_new[is_gold] = onehot_gold
            delta = float(np.abs(R_new - R).max())
            R = R_new
            self.n_iter_ = it
            if delta <= self.tol:
                self.converged_ = True
                break
        self._m_step(At, R, w, m, k)
        b = float(self.prior_strength)
        self.uncovered_prior_ = (b * self.class_prior_ + unc_gold) / (b + unc_gold.sum())
        return self

    def _m_step(self, At: sp.csr_matrix, R: np.ndarray, w: np.ndarray, m: int, k: int) -> None:
        """MAP estimates from posteriors ``R``; sets the log-weight tables."""
        Rw = R * w[:, None]
        N = Rw.sum(axis=0)  # expected rows per class
        S = np.asarray(At @ Rw).reshape(m, k, k)  # S[j, v, c]: LF j voted v, class c
        a = float(self.prior_strength)

        # Class balance.
        if self.class_balance == "votes" and self._vote_prior is not None:
            prior = self._vote_prior
        else:
            prior = (N + 1.0) / (N.sum() + k)
            if self._anchor and self._gold_n.sum() > 0:
                sb = self._anchor
                prior = (self._gold_n + sb * prior) / (self._gold_n.sum() + sb)
            if self._vote_prior is None:
                self._vote_prior = prior
            elif self._prior_step < 1.0:
                # Damped (geometric) step towards the new balance. A one-sided LF's
                # weight divides by the class balance, so on a row where F LFs
                # fire the balance enters with power 1 - F: with many votes per row
                # the plain update overshoots and EM flips between two states
                # forever (its answer then depends on the parity of max_iter).
                # A step of 1 / (one-sided votes per row) keeps it contracting;
                # the fixed point is the same.
                old = self.class_prior_
                prior = np.exp((1 - self._prior_step) * np.log(old)
                               + self._prior_step * np.log(prior))
                prior /= prior.sum()
        # Two-sided LFs: confusion given a vote, Dirichlet pseudo-counts on the diagonal.
        off = a * (1.0 - self.accuracy_prior) / (k - 1)
        pseudo = np.full((k, k), off) + np.eye(k) * (a * self.accuracy_prior - off)
        conf = S.transpose(0, 2, 1) + pseudo[None]  # [j, c, v]
        conf /= conf.sum(axis=2, keepdims=True)
        W = np.log(conf).transpose(0, 2, 1).copy()  # [j, v, c]

        # One-sided LFs: P(Y=. | LF j fires) has prior mean accuracy_prior on its
        # class v and the rest spread in proportion to the class prior; gold rows
        # where it fired update that distribution (Dirichlet with
        # precision_strength pseudo-votes). The weight is P(Y=c | fires) / P(Y=c).
        one = self.one_sided_
        js = np.flatnonzero(one)
        v = self._polarity[js]
        rows = np.arange(js.size)
        # The weight P(Y=c | fires) / P(Y=c) must divide by the class balance of the
        # population the numerator describes. Gold estimates the numerator on the
        # random gold rows, so it is divided by their (smoothed) class balance, not
        # by EM's: otherwise a class balance that drifts enters once per firing LF
        # (a row where F LFs fire weighs P(Y=c)^(1 - F)) and EM can run away
        # with it (docs/label_model_design.md, "gold that hurt").
        b = float(self.precision_strength)
        ref = prior
        pv = ref[v]
        gold_bal = (self._gold_n + k * ref) / (self._gold_n.sum() + k)
        G = self._gold_S[js, v] * (ref / gold_bal)[None, :]  # [js, c]
        # The prior precision of an LF: pooled over the LFs that vote the same class,
        # from the random gold where they fired (``accuracy_prior`` without gold):
        # rules for a rare class are often mostly wrong, and one shared prior of
        # 0.7 hid that where each rule fired on a handful of gold rows.
        right = np.bincount(v, weights=G[rows, v], minlength=k)
        fired = np.bincount(v, weights=G.sum(axis=1), minlength=k)
        pooled = (right + b * self.accuracy_prior) / (fired + b)
        mean = (1.0 - pooled[v])[:, None] * ref[None, :] / (1.0 - pv)[:, None]
        mean[rows, v] = pooled[v]
        # Gold rows where the LF fired, reweighted from the gold rows' own class
        # balance to the reference one: P(Y=c | fires) / P(Y=c) then divides by the
        # balance of the population its estimate describes. Unweighted, a class
        # balance that drifts enters once per firing LF (a row where F LFs fire
        # weighs P(Y=c)^(1 - F)) and EM can run away with it ("gold that hurt",
        # docs/label_model_design.md).

        post = (b * mean + G) / (b + G.sum(axis=1, keepdims=True))
        post = np.clip(post, 1e-4, None)
        post /= post.sum(axis=1, keepdims=True)
        prec = post[rows, v]
        W[js] = 0.0
        W[js, v, :] = np.log(post / ref[None, :])

        self._log_prior = np.log(prior)
        self._W3 = W  # [j, v, c]: log-weight of LF j voting v for class c

        self.class_prior_ = prior
        self.confusion_ = conf
        q = S.sum(axis=(1, 2)) / max(float(w.sum()), 1e-12)  # share of fitted rows voted
        rate = S.sum(axis=1) / np.maximum(N[None, :], 1e-12)  # [j, c]
        self.coverage_ = np.clip(np.where(np.isfinite(rate), rate, q[:, None]), 0.0, 1.0)
        n_votes = S.sum(axis=(1, 2))
        right = np.einsum("jvv->j", S)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(n_votes > 0, right / np.where(n_votes > 0, n_votes, 1), np.nan)
        acc[js] = np.where(n_votes[js] > 0, prec, np.nan)
        self.accuracy_ = acc

    # -- inference -------------------------------------------------------------------
    def _tables(self, reading: bool | str) -> tuple[np.ndarray, np.ndarray]:
        """The log class prior and the log-weights ``[j, v, c]`` a prediction adds
        up: EM's, or with abstentions read as evidence (``abstentions_used_``)
        ``sum_j log(1 - r[j, c])`` added to the prior and, for a vote of LF ``j``,
        ``log r[j, c] - log(1 - r[j, c])`` to its weights (one-sided LFs: only
        the second term; their weight holds their firing rate already), ``r`` =
        ``coverage_``. Votes still cost one look-up each."""
        if not reading:
            return self._log_prior, self._W3
        r = np.clip(np.asarray(self.coverage_, dtype=np.float64), 1e-3, 1 - 1e-3)
        silent = np.log1p(-r)  # [j, c]
        if reading == "rates":  # a one-sided LF's vote: its firing rates, not its precision
            W = np.where(self.one_sided_[:, None, None], 0.0, self._W3)
            return self._log_prior + silent.sum(axis=0), W + (np.log(r) - silent)[:, None, :]
        vote = np.where(self.one_sided_[:, None], 0.0, np.log(r))
        return self._log_prior + silent.sum(axis=0), self._W3 + (vote - silent)[:, None, :]

    def _log_joint(self, L: np.ndarray, reading: bool | str = False
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Unnormalised log posterior per row (table look-up on LF groups) and
        the mask of rows with at least one vote. With two classes it returns the
        (n,) log-odds of class 1 instead, which halves the work."""
        n, m = L.shape
        k = self.n_classes_
        binary = k == 2
        base = k + 1  # vote states: abstain, 0..k-1
        g = max(1, int(np.log(65536) / np.log(base) + 1e-9))
        start_row, W = self._tables(reading)
        if binary:
            logp = np.full(n, start_row[1] - start_row[0])
        else:
            logp = np.empty((n, k), dtype=np.float64)
            logp[:] = start_row
        if n <= _DIRECT_ROWS:
            return self._log_joint_direct(L, logp, g, W)
        # Votes as unsigned codes (abstain -1 -> the top value), so one look-up
        # per column turns a vote into its place value in the group's code.
        U = L.view(np.uint8 if L.dtype == np.int8 else np.uint16) if L.dtype in (
            np.int8, np.int16) else L.astype(np.int16).view(np.uint16)
        size = 256 if U.dtype == np.uint8 else 65536
        groups = []
        for start in range(0, m, g):
            cols = list(range(start, min(m, start + g)))
            luts = []
            for pos in range(len(cols)):
                lut = np.zeros(size, dtype=np.int32)
                lut[:k] = (np.arange(k) + 1) * base ** (len(cols) - 1 - pos)
                luts.append(lut)
            # Table over every combination of the group's vote states.
            states = np.indices((base,) * len(cols)).reshape(len(cols), -1)  # [g, T]
            table = np.zeros((states.shape[1], k))
            for t, j in enumerate(cols):
                Wj = np.vstack([np.zeros((1, k)), W[j]])  # abstain row adds nothing
                table += Wj[states[t]]
            if binary:
                table = np.ascontiguousarray(table[:, 1] - table[:, 0])
            groups.append((cols, luts, table))
        covered = np.zeros(n, dtype=bool)
        block = 1 << 15  # rows per block: the block's columns stay in cache
        for a in range(0, n, block):
            b = min(n, a + block)
            Ub = np.ascontiguousarray(U[a:b].T)  # (m, block), small
            out = logp[a:b]
            for cols, luts, table in groups:
                code = luts[0][Ub[cols[0]]]
                for pos in range(1, len(cols)):
                    code += luts[pos][Ub[cols[pos]]]
                covered[a:b] |= code != 0
                out += table[code]
        return logp, covered

    def _log_joint_direct(self, L: np.ndarray, logp: np.ndarray, g: int, W: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_log_joint` for a few rows: the same sums in the same order (per
        group of ``g`` LFs, from zero), without building the groups' tables, whose
        cost (3^10 entries per group with two classes) is fixed whatever the rows."""
        n, m = L.shape
        k = self.n_classes_
        rows = np.arange(n)
        for start in range(0, m, g):
            acc = np.zeros((n, k))
            for j in range(start, min(m, start + g)):
                v = L[:, j].astype(np.intp)
                on = v >= 0
                acc[rows[on]] += W[j][v[on]]
            if k == 2:
                logp += acc[:, 1] - acc[:, 0]
            else:
                logp += acc
        return logp, _covered_rows(L)

    def predict_proba(self, L: Any) -> Proba:
        """(n_items, n_classes) posterior class probabilities.

        Rows where every LF abstains get ``class_prior_``. The model's state is
        never changed.
        """
        check_is_fitted(self, "confusion_")
        L = check_label_matrix(L, n_classes=self.n_classes_)
        if L.shape[1] != self.n_lfs_:
            raise ValueError(f"L has {L.shape[1]} LFs, the model was fit with {self.n_lfs_}")
        weights = getattr(self, "reading_weights_", None)
        if weights is None:
            proba, covered = self._posterior(L, getattr(self, "abstentions_used_", False))
        else:  # the readings blended
            proba = np.zeros((L.shape[0], self.n_classes_))
            for w, r in zip(weights, self.READINGS, strict=True):
                if w > 0:
                    p, covered = self._posterior(L, r)
                    proba += w * p
        proba[~covered] = self.uncovered_prior_
        layer = getattr(self, "gold_layer_", None)
        if layer is not None:
            w = float(getattr(self, "gold_layer_weight_", 1.0))
            out = np.zeros_like(proba)
            out[:, layer.classes_] = layer.predict_proba(
                _layer_features(L, proba, self.n_classes_))
            return (1.0 - w) * proba + w * out if w < 1.0 else out
        return proba

    def _posterior(self, L: np.ndarray, reading: bool | str) -> tuple[np.ndarray, np.ndarray]:
        """Posterior class probabilities under one reading of the votes, and the
        mask of rows some LF votes on."""
        logp, covered = self._log_joint(L, reading)
        if self.n_classes_ == 2:  # a logistic of the log-odds
            p1 = expit(logp, out=logp)
            proba = np.empty((len(p1), 2))
            proba[:, 1] = p1
            np.subtract(1.0, p1, out=proba[:, 0])
        else:
            logp -= logp.max(axis=1, keepdims=True)
            proba = np.exp(logp, out=logp)
            proba /= proba.sum(axis=1, keepdims=True)
        return proba, covered

    def predict(self, L: Any) -> np.ndarray:
        """Most probable class per row (ties by ``tie_policy``)."""
        return _argmax_with_ties(self.predict_proba(L), self.tie_policy, self.random_state)

    def score(self, L: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on the rows of ``L`` whose gold ``y`` is known
        (see :func:`~loop.core.metrics.gold_accuracy`)."""
        return gold_accuracy(self.predict(L), y)
