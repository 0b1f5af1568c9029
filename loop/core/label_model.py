"""Label models: turn LF votes into probabilistic labels without gold labels.

:class:`LabelModel` is a Dawid-Skene-style generative model fitted by EM on the
distinct vote patterns of ``L``. Each LF ``j`` has, for every true class ``c``,
a probability of abstaining and a distribution over the classes it votes, so it
learns class-dependent accuracies, one-sided LFs (which vote a single class and
carry their signal in *when* they fire), LFs worse than random, and the class
balance. Gold labels, where known, clamp the posterior of their rows and so
anchor every estimate. :class:`MajorityVote` is the baseline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from loop.core.types import GoldVector, LabelMatrix, Proba
from loop.core.validation import check_gold, check_label_matrix, infer_n_classes

TIE_POLICIES = ("random", "first", "abstain")


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


def unique_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of an integer matrix: ``(rows, inverse, counts)``.

    Rows are hashed to 64 bits and the grouping is verified exactly; on the
    (astronomically rare) hash collision it falls back to ``np.unique(axis=0)``.

    >>> rows, inv, counts = unique_rows(np.array([[1, -1], [0, 0], [1, -1]]))
    >>> rows[inv].tolist(), counts.tolist()
    ([[1, -1], [0, 0], [1, -1]], [2, 1])
    """
    n, m = M.shape
    rng = np.random.default_rng(0x5EED)
    mult = rng.integers(1, 2**62, size=m, dtype=np.int64) | 1
    key = np.zeros(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        for j in range(m):
            key = key * np.int64(1_000_003) + (M[:, j].astype(np.int64) + 2) * mult[j]
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

    def fit(self, L: Any, y: Any = None) -> MajorityVote:
        """Record the label space; majority vote has nothing to learn."""
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
        k = self.n_classes_
        counts = np.zeros((L.shape[0], k))
        for c in range(k):
            counts[:, c] = (L == c).sum(axis=1)
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


class LabelModel(BaseEstimator):
    """Generative label model fitted by EM, optionally anchored by gold labels.

    For every LF ``j`` and true class ``c`` it learns the probability that
    ``j`` abstains and the distribution of the class it votes, plus the class
    balance. EM runs on the distinct vote patterns of ``L`` (weighted by their
    counts), in sparse form, so its cost grows with the number of votes, not
    ``n_items * n_lfs * n_classes``.

    Parameters
    ----------
    n_classes
        Size of the label space; inferred from ``L`` and ``y`` when ``None``.
    class_conditional_coverage
        Learn a separate abstain rate per class for each LF (needed for LFs
        that only ever vote one class). ``False`` treats abstains as missing
        at random, as most label models do.
    accuracy_prior
        Prior mean of an LF's accuracy when it votes (Dirichlet pseudo-counts
        split between the diagonal and the other classes).
    prior_strength
        Number of pseudo-votes behind ``accuracy_prior``, per LF and class.
        Larger values shrink rarely firing LFs towards the prior.
    gold_weight
        How many unlabeled rows one gold row counts for in the fit.
    max_iter, tol
        EM stops after ``max_iter`` iterations or when the mean log-likelihood
        improves by less than ``tol``.
    tie_policy
        How :meth:`predict` breaks exact ties: ``"random"``, ``"first"`` or
        ``"abstain"`` (-1).
    random_state
        Seed for tie breaking. The fit itself is deterministic.

    Attributes
    ----------
    n_classes_, classes_, n_lfs_
        The label space and the number of LFs seen in ``fit``.
    class_prior_ : (n_classes,) learned class balance; predicted for rows
        where every LF abstains.
    coverage_ : (n_lfs, n_classes) probability that LF ``j`` votes given the
        true class ``c``.
    confusion_ : (n_lfs, n_classes, n_classes) probability that LF ``j``
        votes ``v`` given true class ``c`` and that it votes.
    accuracy_ : (n_lfs,) probability that LF ``j`` is right when it votes.
    n_iter_, converged_, log_likelihood_
        EM diagnostics.
    n_uncovered_ : rows of the training ``L`` with no vote (they get the prior).

    >>> L = [[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1]]
    >>> LabelModel().fit(L).predict(L).tolist()
    [0, 1, 0, 1]
    """

    def __init__(
        self,
        n_classes: int | None = None,
        class_conditional_coverage: bool = True,
        accuracy_prior: float = 0.7,
        prior_strength: float = 2.0,
        gold_weight: float = 1.0,
        max_iter: int = 200,
        tol: float = 1e-7,
        tie_policy: str = "random",
        random_state: Any = None,
    ) -> None:
        self.n_classes = n_classes
        self.class_conditional_coverage = class_conditional_coverage
        self.accuracy_prior = accuracy_prior
        self.prior_strength = prior_strength
        self.gold_weight = gold_weight
        self.max_iter = max_iter
        self.tol = tol
        self.tie_policy = tie_policy
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------
    def _check_params(self) -> None:
        if self.tie_policy not in TIE_POLICIES:
            raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {self.tie_policy!r}")
        if not 0.0 < self.accuracy_prior < 1.0:
            raise ValueError(f"accuracy_prior must be in (0, 1), got {self.accuracy_prior}")
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength}")
        if self.gold_weight <= 0:
            raise ValueError(f"gold_weight must be > 0, got {self.gold_weight}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")

    def fit(self, L: Any, y: Any = None) -> LabelModel:
        """Fit by EM on ``L``; rows of ``y`` other than -1 are known classes.

        Parameters
        ----------
        L
            (n_items, n_lfs) int, -1 = abstain.
        y
            Optional (n_items,) int gold labels, -1 where unknown.
        """
        self._check_params()
        L = check_label_matrix(L, n_classes=self.n_classes)
        n, m = L.shape
        y = None if y is None else check_gold(y, n, self.n_classes)
        k = infer_n_classes(L, y, self.n_classes)
        self.n_classes_, self.n_lfs_ = k, m
        self.classes_ = np.arange(k)

        # Distinct (votes, gold) patterns with their multiplicities.
        gold_col = np.full((n, 1), -1, dtype=L.dtype) if y is None else y.astype(L.dtype)[:, None]
        P, _, counts = unique_rows(np.hstack([L, gold_col]))
        gold = P[:, -1].astype(np.int64)
        P = P[:, :-1]
        w = counts.astype(np.float64)
        is_gold = gold >= 0
        w[is_gold] *= self.gold_weight
        uncovered = (P < 0).all(axis=1) & ~is_gold
        self.n_uncovered_ = int(counts[uncovered].sum())
        if uncovered.all():
            raise ValueError(
                "every LF abstains on every row of L: there are no votes to learn from"
            )
        # Rows with no vote and no gold label carry no information about the LFs
        # and, with class-dependent coverage, would form a spurious "silent"
        # class: they are left out of EM and predicted with the prior.
        keep = ~uncovered
        P, gold, w, is_gold = P[keep], gold[keep], w[keep], is_gold[keep]
        A = _one_hot_votes(P, k)
        At = A.T.tocsr()
        self._onesided = np.array([len(set(np.unique(P[:, j])) - {-1}) <= 1 for j in range(m)])

        # Initialise with (smoothed) majority vote shares; gold rows clamped.
        R = np.asarray(A @ np.tile(np.eye(k), (m, 1)))
        R += 1.0 / k
        R /= R.sum(axis=1, keepdims=True)
        R[is_gold] = np.eye(k)[gold[is_gold]]

        prev = -np.inf
        self.converged_ = False
        for it in range(1, int(self.max_iter) + 1):
            log_prior, base, W = self._m_step(At, R, w, m, k)
            logp = log_prior + base + np.asarray(A @ W)
            mx = logp.max(axis=1, keepdims=True)
            R = np.exp(logp - mx)
            norm = R.sum(axis=1, keepdims=True)
            R /= norm
            ll_rows = (mx + np.log(norm)).ravel()
            # Gold rows: the likelihood of their known class.
            if is_gold.any():
                ll_rows[is_gold] = logp[is_gold, gold[is_gold]]
                R[is_gold] = np.eye(k)[gold[is_gold]]
            ll = float(np.dot(w, ll_rows) / w.sum())
            self.n_iter_ = it
            if ll - prev < self.tol:
                self.converged_ = True
                break
            prev = ll
        self.log_likelihood_ = ll
        self._log_prior, self._base, self._W = self._m_step(At, R, w, m, k)
        return self

    def _m_step(
        self, At: sp.csr_matrix, R: np.ndarray, w: np.ndarray, m: int, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Rw = R * w[:, None]
        N = Rw.sum(axis=0)  # expected rows per class
        S = np.asarray(At @ Rw).reshape(m, k, k)  # S[j, v, c]: LF j voted v, class c
        S = S.transpose(0, 2, 1)  # -> [j, c, v]
        fired = S.sum(axis=2)  # [j, c]

        # Class balance: a light symmetric Dirichlet prior.
        prior = (N + 1.0) / (N.sum() + k)
        if getattr(self, "fixpi", False):
            if not hasattr(self, "_pi0"):
                self._pi0 = prior
            prior = self._pi0
        # Confusion given a vote, with Dirichlet pseudo-counts favouring the diagonal.
        a = self.prior_strength
        if k > 1:
            off = a * (1 - self.accuracy_prior) / (k - 1)
        else:  # pragma: no cover - k >= 2 always
            off = 0.0
        pseudo = np.full((k, k), off) + np.eye(k) * (a * self.accuracy_prior - off)
        conf = S + pseudo[None] + 1e-9
        conf /= conf.sum(axis=2, keepdims=True)
        # Coverage given class, shrunk towards the LF's overall coverage.
        total = float(w.sum())
        overall = (fired.sum(axis=1) + 0.5) / (total + 1.0)  # [j]
        if self.class_conditional_coverage:
            cov = (fired + 2.0 * overall[:, None]) / (N[None, :] + 2.0)
        else:
            cov = np.repeat(overall[:, None], k, axis=1)
        if getattr(self, "mode", "full") == "hyb2":
            cc = (fired + 2.0 * overall[:, None]) / (N[None, :] + 2.0)
            sh = np.repeat(overall[:, None], k, axis=1)
            cov = np.where(self._onesided[:, None], cc, sh)
        cov = np.clip(cov, 1e-6, 1 - 1e-6)

        self.class_prior_ = prior
        self.coverage_ = cov
        self.confusion_ = conf
        mode = getattr(self, "mode", "full")
        # One-coin factor per (LF, voted class): the vote v is right with prob a[j, v].
        n_jv = S.sum(axis=1)  # [j, v] votes cast
        right = np.einsum("jvv->jv", S)
        acc = (right + a * self.accuracy_prior) / (n_jv + a)
        acc = np.clip(acc, 1e-4, 1 - 1e-4)
        W1 = np.empty((m, k, k))  # [j, v, c]
        W1[:] = np.log((1 - acc) / (k - 1))[:, :, None]
        idx = np.arange(k)
        W1[:, idx, idx] = np.log(acc)
        if mode == "post":
            Sv = S.transpose(0, 2, 1)  # [j, v, c]
            prec = (Sv + pseudo[None]) / (Sv.sum(axis=2, keepdims=True) + a)
            beta = getattr(self, "beta", 1.0)
            W = (np.log(prec) - beta * np.log(prior)[None, None, :]).reshape(m * k, k)
            self._prec = prec
            return beta * np.log(prior), np.zeros(k), W
        if mode == "oc":
            W = W1.reshape(m * k, k)
            return np.log(prior), np.zeros(k), W
        log_abst = np.log1p(-cov)  # [j, c]
        base = log_abst.sum(axis=0)  # [c]
        # W[(j, v), c] = log cov[j, c] + log conf[j, c, v] - log(1 - cov[j, c])
        Wj = np.log(cov)[:, :, None] + np.log(conf) - log_abst[:, :, None]  # [j, c, v]
        W = Wj.transpose(0, 2, 1).reshape(m * k, k)
        if mode == "hybrid":
            onesided = getattr(self, "_onesided", None)
            W3 = W.reshape(m, k, k).copy()
            W3[onesided] = W1[onesided]
            base = log_abst[~onesided].sum(axis=0)
            W = W3.reshape(m * k, k)
        return np.log(prior), base, W

    # -- inference -------------------------------------------------------------------
    @property
    def accuracy_(self) -> np.ndarray:
        """(n_lfs,) learned probability that each LF's vote is right."""
        check_is_fitted(self, "confusion_")
        diag = np.einsum("jcc->jc", self.confusion_)
        votes = self.coverage_ * self.class_prior_[None, :]
        return (diag * votes).sum(axis=1) / votes.sum(axis=1)

    def predict_proba(self, L: Any) -> Proba:
        """(n_items, n_classes) posterior class probabilities.

        Rows where every LF abstains get ``class_prior_``. The model's state is
        never changed.
        """
        check_is_fitted(self, "confusion_")
        L = check_label_matrix(L, n_classes=self.n_classes_)
        if L.shape[1] != self.n_lfs_:
            raise ValueError(f"L has {L.shape[1]} LFs, the model was fit with {self.n_lfs_}")
        A = _one_hot_votes(L, self.n_classes_)
        logp = self._log_prior + self._base + np.asarray(A @ self._W)
        logp -= logp.max(axis=1, keepdims=True)
        proba = np.exp(logp)
        proba /= proba.sum(axis=1, keepdims=True)
        uncovered = A.getnnz(axis=1) == 0
        proba[uncovered] = self.class_prior_
        return proba

    def predict(self, L: Any) -> np.ndarray:
        """Most probable class per row (ties by ``tie_policy``)."""
        return _argmax_with_ties(self.predict_proba(L), self.tie_policy, self.random_state)

    def score(self, L: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` against gold ``y``."""
        y = np.asarray(y)
        return float((self.predict(L) == y).mean())
