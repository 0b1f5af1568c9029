"""Which items should an expert label next?

Two layers, as in modAL: pure score functions over probabilities or vote
matrices (higher = more worth a gold label), and small sampler classes whose
``select(...)`` returns the indices of a batch, deterministic for a seed.
End-model uncertainty uses modAL's measures; the LF-aware scores and
:class:`LoopSampler` use the structure of the vote matrix ``L``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from modAL.uncertainty import _proba_entropy, _proba_margin, _proba_uncertainty
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from loop.core.label_model import unique_rows, vote_counts
from loop.core.types import Indices, LabelMatrix, Proba
from loop.core.validation import check_rows


# -- pure scores --------------------------------------------------------------------
def _check_proba(proba: Any) -> Proba:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must be (n_items, n_classes>=2), got shape {p.shape}")
    return p


def least_confidence(proba: Any) -> np.ndarray:
    """``1 - max_c p(c)`` (modAL's classifier uncertainty).

    >>> least_confidence([[0.9, 0.1], [0.5, 0.5]]).tolist()
    [0.09999999999999998, 0.5]
    """
    return np.asarray(_proba_uncertainty(_check_proba(proba)))


def margin(proba: Any) -> np.ndarray:
    """``1 - (p_top1 - p_top2)``: small margins score high (from modAL's margin).

    >>> margin([[0.9, 0.1], [0.5, 0.5]]).round(2).tolist()
    [0.2, 1.0]
    """
    return 1.0 - np.asarray(_proba_margin(_check_proba(proba)))


def entropy(proba: Any) -> np.ndarray:
    """Shannon entropy of each row, divided by ``log(n_classes)`` (so in [0, 1]).

    >>> entropy([[1.0, 0.0], [0.5, 0.5]]).round(2).tolist()
    [0.0, 1.0]
    """
    p = _check_proba(proba)
    return np.asarray(_proba_entropy(p)) / np.log(p.shape[1])


def lf_conflict(L: LabelMatrix) -> np.ndarray:
    """Share of the votes on each row that disagree with its most voted class.

    0 when the LFs agree (or abstain), up to ``1 - 1/n_classes`` for an even split.

    >>> lf_conflict(np.array([[0, 0, -1], [0, 1, -1], [-1, -1, -1]])).tolist()
    [0.0, 0.5, 0.0]
    """
    L = np.asarray(L)
    k = int(L.max()) + 1 if L.size and L.max() >= 0 else 1
    counts = vote_counts(L, k)
    total = counts.sum(axis=1)
    top = counts.max(axis=1)
    return np.divide(total - top, total, out=np.zeros(len(L)), where=total > 0)


def lf_abstain(L: LabelMatrix) -> np.ndarray:
    """1.0 for rows where every LF abstains, else 0.0.

    >>> lf_abstain(np.array([[0, -1], [-1, -1]])).tolist()
    [0.0, 1.0]
    """
    return np.asarray((np.asarray(L) < 0).all(axis=1), dtype=np.float64)


def copies(X: Any, taken: Any) -> np.ndarray:
    """Rows of ``X`` that are exact copies (the same feature vector) of a ``taken``
    row or of an earlier row that is not taken, as a bool mask over the rows.

    Rows without features are never copies. An item whose text an expert has
    answered, or that waits in the queue, is no question to ask again (new-user
    trial: SMS data holds 281 repeated messages, and one was served twice in a
    row). :func:`twins` finds the groups (the costly part, once per ``X``),
    :func:`copies_among` the copies for a ``taken``.

    >>> X = np.array([[1., 0.], [0., 1.], [1., 0.], [0., 0.], [0., 1.], [0., 0.]])
    >>> copies(X, np.array([True, False, False, False, False, False])).tolist()
    [False, False, True, False, True, False]
    """
    taken = np.asarray(taken, dtype=bool)
    if X is None or taken.size == 0:
        return np.zeros(taken.size, dtype=bool)
    return copies_among(twins(X), taken)


def twins(X: Any) -> np.ndarray:
    """The rows of ``X`` whose feature vector another row has too, and a group
    number each: a (2, n_twins) int64 array, rows in each group in row order, the
    groups one after another. Rows without features have no twins.

    Two random projections of each row stand for it, rounded so that the same sum
    in another order still matches (a million rows: about a second).

    >>> twins(np.array([[1., 0.], [0., 1.], [1., 0.], [0., 0.], [0., 0.]])).tolist()
    [[0, 2], [0, 0]]
    """
    n = X.shape[0]
    r = np.random.default_rng(0).standard_normal((X.shape[1], 2))
    F = np.round(np.asarray(X @ r, dtype=np.float64).reshape(n, 2), 9)
    rows = np.flatnonzero(np.abs(F).sum(axis=1) > 0)
    order = rows[np.lexsort((rows, F[rows, 1], F[rows, 0]))]
    start = np.ones(order.size, dtype=bool)
    start[1:] = (F[order[1:]] != F[order[:-1]]).any(axis=1)
    group = np.cumsum(start) - 1
    keep = np.bincount(group)[group] > 1
    _, renumbered = np.unique(group[keep], return_inverse=True)
    return np.vstack([order[keep], renumbered]).astype(np.int64).reshape(2, -1)


def split_twins(groups: np.ndarray, keys: Any) -> np.ndarray:
    """:func:`twins` kept only among rows of the same key: ``keys`` gives one per
    row of ``groups`` (in its order), and each group is split by them, a row left
    alone dropped. For relation data, the entity pair (:func:`loop.core.relations.entity_key`): one
    sentence names several pairs, each a question of its own.

    >>> split_twins(np.array([[0, 2, 4], [0, 0, 0]]), ["a", "b", "a"]).tolist()
    [[0, 4], [0, 0]]
    """
    rows, group = np.asarray(groups[0]), np.asarray(groups[1])
    if rows.size == 0:
        return np.asarray(groups, dtype=np.int64).reshape(2, -1)
    _, codes = np.unique(np.asarray([str(k) for k in keys]), return_inverse=True)
    order = np.lexsort((rows, codes, group))
    rows, group, codes = rows[order], group[order], codes[order]
    start = np.ones(rows.size, dtype=bool)
    start[1:] = (group[1:] != group[:-1]) | (codes[1:] != codes[:-1])
    new = np.cumsum(start) - 1
    keep = np.bincount(new)[new] > 1
    _, renumbered = np.unique(new[keep], return_inverse=True)
    return np.vstack([rows[keep], renumbered]).astype(np.int64).reshape(2, -1)


def copies_among(groups: np.ndarray, taken: Any) -> np.ndarray:
    """:func:`copies` from the groups :func:`twins` found: in a group with a
    ``taken`` row every row not taken is a copy, in one without, every row but its
    first. A bool mask over the rows of ``taken``."""
    taken = np.asarray(taken, dtype=bool)
    out = np.zeros(taken.size, dtype=bool)
    rows, group = np.asarray(groups[0]), np.asarray(groups[1])
    if rows.size == 0:
        return out
    t = taken[rows]
    any_taken = np.bincount(group, weights=t.astype(np.float64)) > 0
    first = np.ones(rows.size, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    out[rows[np.where(any_taken[group], ~t, ~first)]] = True
    return out & ~taken


# -- samplers -------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """What a sampler picked, best first.

    Attributes
    ----------
    indices
        (n_picked,) item indices in the order to ask about them.
    scores
        (n_picked,) the sampler's score of each pick (higher = more worth a gold
        label; 0 where the sampler has no score, e.g. a random pick).
    random
        (n_picked,) bool: drawn uniformly at random from the pool. Answers to
        these are an unbiased sample (``LabelModel.fit(..., random_gold=...)``).
    """

    indices: Indices
    scores: np.ndarray
    random: np.ndarray

    def __post_init__(self) -> None:
        if not self.indices.shape == self.scores.shape == self.random.shape:
            raise ValueError("indices, scores and random must have one entry per pick")

    def __len__(self) -> int:
        return int(self.indices.size)

    # A selection reads as its indices (``select`` returns "the indices of a
    # batch"): ``L[sel]``, ``df.iloc[sel]``, ``list(sel)``, ``sel[:3]``,
    # ``np.asarray(sel)``.
    def __iter__(self) -> Iterator[int]:
        return iter(self.indices.tolist())

    def __getitem__(self, key: Any) -> Any:
        return self.indices[key]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.indices if dtype is None else self.indices.astype(dtype)

    @property
    def random_indices(self) -> Indices:
        """The picks drawn at random, in selection order."""
        return self.indices[self.random]

    @classmethod
    def of(cls, indices: Any, scores: Any = None, random: Any = None) -> Selection:
        """A selection from indices; ``scores`` default 0, ``random`` default False."""
        idx = np.asarray(indices, dtype=np.intp).ravel()
        sc = np.zeros(idx.size) if scores is None else np.asarray(scores, np.float64).ravel()
        rnd = (np.zeros(idx.size, dtype=bool) if random is None
               else np.broadcast_to(np.asarray(random, dtype=bool), idx.shape).copy())
        return cls(idx, sc, rnd)


def _pool(n: int, exclude: Any) -> np.ndarray:
    if exclude is None:
        return np.ones(n, dtype=bool)
    # an index out of range was a bare IndexError, and 1.5 excluded item 1
    return ~check_rows(exclude, n, "exclude")


def _top_k(scores: np.ndarray, mask: np.ndarray, k: int, rng: np.random.RandomState) -> Indices:
    """Indices of the ``k`` highest scores among ``mask``; ties broken at random."""
    idx = np.flatnonzero(mask)
    if idx.size == 0 or k <= 0:
        return np.empty(0, dtype=np.intp)
    jitter = rng.random_sample(idx.size)
    order = np.lexsort((jitter, -scores[idx]))
    return idx[order[:k]].astype(np.intp)


class Sampler(BaseEstimator):
    """Base class: ``select`` returns up to ``batch_size`` indices not in ``exclude``.

    A scikit-learn estimator as far as its settings go: ``get_params`` /
    ``set_params``, ``sklearn.base.clone`` and a ``repr`` that shows them.

    Parameters
    ----------
    batch_size
        Items per batch.
    random_state
        Seed for tie breaking and random choices.
    """

    name = "base"
    needs_proba = False

    def __init__(self, batch_size: int = 10, random_state: Any = None) -> None:
        self.batch_size = batch_size
        self.random_state = random_state

    def _check(self, n: int, proba: Any = None, L: Any = None, lm_proba: Any = None,
               y: Any = None, X: Any = None, gold_proba: Any = None) -> None:
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if n == 0:
            raise ValueError("there are no items to select from")
        given = {"proba": proba, "L": L, "lm_proba": lm_proba, "y": y, "X": X,
                 "gold_proba": gold_proba}
        rows = {name: (a.shape[0] if hasattr(a, "shape") and len(a.shape) else len(a))
                for name, a in given.items() if a is not None}
        if len(set(rows.values())) > 1:  # was a numpy broadcast error from deep inside
            sizes = ", ".join(f"{name} {r}" for name, r in rows.items())
            raise ValueError(f"the inputs have different numbers of rows ({sizes}): pass "
                             "one row per item in each")

    def select(
        self,
        proba: Proba | None = None,
        *,
        L: LabelMatrix | None = None,
        lm_proba: Proba | None = None,
        y: np.ndarray | None = None,
        X: Any = None,
        exclude: Any = None,
        gold_proba: Proba | None = None,
    ) -> Selection:
        """Pick a batch: a :class:`Selection` (indices best first, scores, which
        picks were drawn at random).

        Parameters
        ----------
        proba
            (n_items, n_classes) end-model probabilities, if an end model exists.
        L
            (n_items, n_lfs) int votes, -1 = abstain.
        lm_proba
            (n_items, n_classes) label-model probabilities.
        y
            (n_items,) gold labels so far, -1 where unknown.
        X
            Optional features (dense or sparse) used to avoid near-duplicates.
        exclude
            Indices or boolean mask of items that must not be picked (already
            labeled, leased to someone, ...).
        gold_proba
            Optional (n_items, n_classes) probabilities of the end model fitted on
            the gold alone (:meth:`loop.core.end_model.EndModel.gold_view_proba`);
            only :class:`LoopSampler` reads them.
        """
        raise NotImplementedError


class RandomSampler(Sampler):
    """Uniform random batch: the baseline every strategy must beat.

    Every pick is marked random in the returned :class:`Selection`.
    """

    name = "random"

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        n = _n_items(proba, L, lm_proba)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        rng = check_random_state(self.random_state)
        idx = np.flatnonzero(_pool(n, exclude))
        take = min(int(self.batch_size), idx.size)
        # In the order drawn, not sorted: a queue longer than what is answered before
        # the next ranking hands out its head, which must be random too (sorted, it
        # is the items uploaded first).
        picks = rng.choice(idx, size=take, replace=False)
        return Selection.of(picks, random=True)


_MEASURES = {"entropy": entropy, "margin": margin, "least_confidence": least_confidence}


class UncertaintySampler(Sampler):
    """Classic active learning: the items the end model is least sure about.

    Parameters
    ----------
    measure
        ``"entropy"``, ``"margin"`` or ``"least_confidence"`` (modAL's measures).
    source
        ``"end_model"`` scores ``proba``; ``"label_model"`` scores ``lm_proba``.

    Cold start: with ``source="end_model"`` and no ``proba`` yet, it falls back
    to a random batch (there is nothing to be uncertain about).
    """

    name = "uncertainty"

    def __init__(
        self,
        measure: str = "entropy",
        source: str = "end_model",
        batch_size: int = 10,
        random_state: Any = None,
    ) -> None:
        super().__init__(batch_size, random_state)
        self.measure = measure
        self.source = source

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {sorted(_MEASURES)}, got {self.measure!r}")
        if self.source not in ("end_model", "label_model"):
            raise ValueError(f"source must be 'end_model' or 'label_model', got {self.source!r}")
        p = proba if self.source == "end_model" else lm_proba
        n = _n_items(proba, L, lm_proba)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        rng = check_random_state(self.random_state)
        if p is None:
            return RandomSampler(self.batch_size, rng).select(
                proba, L=L, lm_proba=lm_proba, exclude=exclude
            )
        scores = _MEASURES[self.measure](p)
        top = _top_k(scores, _pool(n, exclude), int(self.batch_size), rng)
        return Selection.of(top, scores[top])


class LFConflictSampler(Sampler):
    """Items whose LFs disagree most; ties (and no conflict) broken at random."""

    name = "conflict"

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        if L is None:
            raise ValueError("LFConflictSampler needs the vote matrix L")
        n = len(L)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        rng = check_random_state(self.random_state)
        scores = lf_conflict(L)
        top = _top_k(scores, _pool(n, exclude), int(self.batch_size), rng)
        return Selection.of(top, scores[top])


class AbstainSampler(Sampler):
    """Items no LF covers (random among them), then the least covered."""

    name = "abstain"

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        if L is None:
            raise ValueError("AbstainSampler needs the vote matrix L")
        n = len(L)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        rng = check_random_state(self.random_state)
        scores = -(np.asarray(L) >= 0).sum(axis=1).astype(np.float64)
        top = _top_k(scores, _pool(n, exclude), int(self.batch_size), rng)
        return Selection.of(top, scores[top])


class WeaSuLSampler(Sampler):
    """Active WeaSuL's maxKL (Biegel et al. 2021), the published reference.

    Items are bucketed by their LF vote pattern. For each bucket it compares the
    label model's mean posterior with the (smoothed) distribution of the gold
    labels already in it, and samples one random item from each of the buckets
    where the KL divergence is largest.
    """

    name = "weasul"

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        if L is None or lm_proba is None:
            raise ValueError("WeaSuLSampler needs L and the label model's lm_proba")
        n = len(L)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        rng = check_random_state(self.random_state)
        k = lm_proba.shape[1]
        _, bucket, _ = unique_rows(np.asarray(L))
        nb = int(bucket.max()) + 1
        mean_p = np.zeros((nb, k))
        np.add.at(mean_p, bucket, lm_proba)
        mean_p /= np.bincount(bucket, minlength=nb)[:, None]
        gold = np.ones((nb, k))  # Laplace smoothing
        if y is not None and (np.asarray(y) >= 0).any():
            yy = np.asarray(y)
            has = yy >= 0
            np.add.at(gold, (bucket[has], yy[has]), 1.0)
        gold /= gold.sum(axis=1, keepdims=True)
        kl = (gold * np.log(gold / np.clip(mean_p, 1e-12, None))).sum(axis=1)
        pool = _pool(n, exclude)
        out: list[int] = []
        for b in np.argsort(-kl + rng.random_sample(nb) * 1e-9):
            members = np.flatnonzero((bucket == b) & pool)
            if members.size:
                out.append(int(rng.choice(members)))
            if len(out) >= int(self.batch_size):
                break
        idx = np.asarray(out, dtype=np.intp)
        return Selection.of(idx, kl[bucket[idx]])


class LoopSampler(Sampler):
    """The loop's own strategy: uncertainty where a gold label pays most.

    Each unlabeled item scores the mean of three signals in [0, 1]: the end
    model's entropy, the label model's entropy (1 for items no LF covers), and
    whether the two models disagree on the class. That is multiplied by a
    vote-pattern bonus: a gold label in a vote pattern with many unlabeled items
    and few gold labels recalibrates the label model for all of them. Batches are
    kept diverse: at most ``max_per_pattern`` items of one vote pattern, and no
    two items whose feature vectors (``X``) have cosine similarity above
    ``max_similarity``.

    Cold start (no end model yet) uses the label model's signals alone.

    A share ``random_share`` of every batch is drawn uniformly at random from
    the pool (at least one item when the share is positive). Those answers are
    an unbiased sample, the only gold from which the label model may
    re-estimate LF precisions (``LabelModel.fit(..., random_gold=...)``);
    uncertainty-picked gold is biased towards the items where an LF is wrong.
    The returned :class:`Selection` marks them (``random``).

    ``random_share=None`` (default) picks it from the number of classes:
    0.2 for two classes, 0.5 for more. With more classes the label model has
    more precisions to re-estimate from random gold, and uncertainty picks of
    a weak multi-class end model crowd onto a few confusable classes; on the
    valid splits of semeval, hausa and yoruba a share of 0.5 gave the end
    model +2 to +6 points at 50 and 100 answers over 0.2, while on youtube
    and sms it cost 0.4 to 3.5 points (``docs/benchmarks_loop.md``).

    Beyond ``explore_gold`` gold labels the share shrinks in proportion,
    ``random_share * explore_gold / n_gold`` (still at least one pick per
    batch): by then the label model has the random gold it needs for its
    precisions, each further random answer narrows them less, and an
    uncertainty pick teaches the end model more. On the valid splits of hausa
    and sms (3 seeds) 50 lifted the end model at 200 / 300 answers from 0.582 /
    0.610 to 0.608 / 0.636 (hausa) and from 0.871 / 0.897 to 0.884 / 0.898
    (sms, F1), and changed nothing up to 50 answers; 100 gained less (hausa
    0.609 / 0.615, sms 0.874 / 0.878). On the test splits it carried over to
    sms (0.905 / 0.909 -> 0.918 / 0.931) and yoruba, not to hausa (0.571 /
    0.607 -> 0.570 / 0.598; ``docs/benchmarks_loop.md``). ``None``: the share
    never shrinks.

    The scores shift the same way: beyond ``explore_gold`` gold labels the
    signals that serve the label model (its entropy, the two models'
    disagreement, the vote-pattern bonus) each weigh ``explore_gold / n_gold``
    of what they weigh up to then, and the end model's entropy takes the rest,
    so with plenty of gold the loop's picks approach active learning's. On the
    valid splits of hausa and sms (3 seeds, at 100 / 200 / 300 answers) this
    moved the end model from 0.584 / 0.608 / 0.636 to 0.577 / 0.613 / 0.648
    (hausa) and from 0.859 / 0.884 / 0.898 to 0.875 / 0.893 / 0.926 (sms, F1);
    shrinking only the signals or only the bonus, or both at the square of the
    rate, gained less (``docs/benchmarks_loop.md``).

    With the gold's own view (``gold_proba``: the end model fitted on the gold
    alone, :meth:`~loop.core.end_model.EndModel.gold_view_proba`), a share
    ``gold_view_weight * (1 - explore_gold / n_gold)`` of each score beyond
    ``explore_gold`` gold labels goes to how much that model doubts the end
    model's label, ``1 - q(argmax p)``. As gold accumulates, weak labels that
    were a help become noise where the LFs are wrong; the end model, trained on
    them, can be confident there while the gold alone reads the item otherwise,
    and an answer there settles which is right. On the valid splits of sms, hausa
    and yoruba (3 seeds; 100 / 200 / 300 answers) 0.66 moved the end model by
    +0.6 / 0.0 / +0.3 points (sms, F1), +2.5 / +1.6 / +2.1 (hausa) and -0.6 /
    +0.3 / +1.6 (yoruba); 0.33 gained less (+0.0 / -0.0 / +1.4 on average), 1.0
    lost at 100 answers (-0.2 / +0.8 / +1.2); youtube and semeval held out
    (``docs/benchmarks_loop.md``). 0: not used.

    A ranking longer than ``block_size`` (the service ranks a queue of a
    thousand, answered from its head until the next ranking) is built as
    consecutive blocks of ``block_size`` that each keep a batch's pattern cap: at
    most ``max_per_pattern`` items of one vote pattern (default a third of its
    sampler-picked items). The first block is drawn exactly as a batch of
    ``block_size`` is, random picks and all; the ranking's other random picks
    (its share of the whole ranking) are drawn after it and interleaved in the
    other blocks. So the head of a long queue is the batch the benchmarks
    measure, not a run of one vote pattern (a new user's first 9 items on the demo held 7
    one-line "subscribe" comments of one pattern when the cap was a third of
    the whole queue). The first block is chosen as a batch is; for the others,
    twice as many candidates as they need (by score, no near-duplicates) are
    dealt into blocks under the cap, an item over its block's cap waiting for
    the next (a ranking of a thousand costs about 1.5x what it did).
    """

    name = "loop"

    def __init__(
        self,
        batch_size: int = 10,
        pattern_weight: float = 0.5,
        max_per_pattern: int | None = None,
        max_similarity: float = 0.9,
        random_share: float | None = None,
        explore_gold: int | None = 50,
        block_size: int = 10,
        gold_view_weight: float = 0.66,
        random_state: Any = None,
    ) -> None:
        super().__init__(batch_size, random_state)
        self.gold_view_weight = gold_view_weight
        self.pattern_weight = pattern_weight
        self.max_per_pattern = max_per_pattern
        self.max_similarity = max_similarity
        self.random_share = random_share
        self.explore_gold = explore_gold
        self.block_size = block_size

    def scores(
        self,
        proba: Proba | None,
        L: LabelMatrix,
        lm_proba: Proba,
        y: np.ndarray | None = None,
        gold_proba: Proba | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-item scores and vote-pattern ids (exposed for the 'why picked' view)."""
        L = np.asarray(L)
        covered = (L >= 0).any(axis=1)
        u_lm = np.where(covered, entropy(lm_proba), 1.0)
        lm_share = self._label_model_share(y)
        if proba is None:
            base = u_lm
        else:
            disagree = (np.argmax(proba, axis=1) != np.argmax(lm_proba, axis=1)) & covered
            w = lm_share / 3.0  # each of the label model's two signals
            base = (1.0 - 2.0 * w) * entropy(proba) + w * u_lm + w * disagree
            w_gold = float(self.gold_view_weight) * (1.0 - lm_share)
            if gold_proba is not None and w_gold > 0:
                gp = np.asarray(gold_proba, dtype=np.float64)
                if gp.shape != np.shape(proba):
                    raise ValueError(f"gold_proba must have the shape of proba "
                                     f"{np.shape(proba)}, got {gp.shape}")
                doubt = 1.0 - gp[np.arange(gp.shape[0]), np.argmax(proba, axis=1)]
                base = (1.0 - w_gold) * base + w_gold * doubt
        _, bucket, counts = unique_rows(L)
        gold_in = np.zeros(counts.size)
        if y is not None:
            has = np.asarray(y) >= 0
            np.add.at(gold_in, bucket[has], 1.0)
        unl = counts - gold_in
        bonus = np.log1p(unl) / (1.0 + gold_in)
        bonus = bonus / bonus.max() if bonus.max() > 0 else bonus
        return base * (1.0 + self.pattern_weight * lm_share * bonus[bucket]), bucket

    def _label_model_share(self, y: np.ndarray | None) -> float:
        """1 up to ``explore_gold`` gold labels, then ``explore_gold / n_gold``."""
        if self.explore_gold is None:
            return 1.0
        if int(self.explore_gold) < 1:
            raise ValueError(f"explore_gold must be >= 1 or None, got {self.explore_gold}")
        n_gold = 0 if y is None else int(np.count_nonzero(np.asarray(y) >= 0))
        return min(1.0, int(self.explore_gold) / max(n_gold, 1))

    def select(self, proba=None, *, L=None, lm_proba=None, y=None, X=None, exclude=None,  # type: ignore[no-untyped-def]
               gold_proba=None):
        if L is None or lm_proba is None:
            raise ValueError("LoopSampler needs L and the label model's lm_proba")
        n = len(L)
        self._check(n, proba, L, lm_proba, y, X, gold_proba)
        share = self.random_share
        if share is None:
            share = 0.2 if np.shape(lm_proba)[1] <= 2 else 0.5
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"random_share must be in [0, 1], got {share}")
        share *= self._label_model_share(y)
        rng = check_random_state(self.random_state)
        if not 0.0 <= float(self.gold_view_weight) <= 1.0:
            raise ValueError(f"gold_view_weight must be in [0, 1], got {self.gold_view_weight}")
        scores, bucket = self.scores(proba, L, lm_proba, y, gold_proba)
        total = int(self.batch_size)
        block = int(self.block_size)
        if block < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        pool = _pool(n, exclude)
        # A long ranking is built in blocks of ``block`` items, each under a batch's
        # pattern cap. The first block is drawn exactly as a batch of ``block`` is
        # (its random picks first, then its sampler picks), so the head of the
        # service's queue is the batch the benchmarks measure; the ranking's other
        # random picks are drawn after it and spread over the other blocks. Before,
        # all of them left the pool first and were spread evenly: on youtube the
        # queue's first 10 differed from the batch at 13 of 25 steps, by up to 3 items.
        sizes = [min(block, total - b) for b in range(0, total, block)] if total > block \
            else [total]

        def n_random(size: int) -> int:  # a batch's: its share, at least one
            return min(max(1, int(round(size * share))), size) if share > 0 and size > 1 else 0

        n_rand = [min(n_random(sizes[0]), n_random(total))]
        if len(sizes) > 1:  # the ranking's other random picks, spread over the others
            spread = np.array_split(np.arange(n_random(total) - n_rand[0]), len(sizes) - 1)
            n_rand += [min(part.size, size) for part, size in zip(spread, sizes[1:], strict=True)]
        # In the order drawn (see RandomSampler): the first of them in the queue must
        # be a random draw too, not the items uploaded first.
        random_picks = rng.choice(np.flatnonzero(pool), min(n_rand[0], int(pool.sum())),
                                  replace=False)
        pool[random_picks] = False
        picks = [size - r for size, r in zip(sizes, n_rand, strict=True)]
        cap = self.max_per_pattern or max(1, picks[0] // 3)
        order = _top_k(scores, pool, n, rng)
        chosen = _batch(order, bucket, cap, picks[0], X, self.max_similarity, [])
        if len(sizes) > 1:  # the blocks after the first
            first = set(chosen)
            later = np.flatnonzero(pool & ~np.isin(np.arange(n), chosen))
            more = rng.choice(later, min(sum(n_rand[1:]), later.size), replace=False)
            pool[more] = False
            random_picks = np.concatenate([random_picks, more]).astype(np.intp)
            drawn = set(more.tolist())
            rest = np.asarray([i for i in order if int(i) not in first
                               and int(i) not in drawn], dtype=np.intp)
            need = sum(picks) - len(chosen)
            # no near-duplicates (of the first block or each other), twice what is
            # needed, then dealt into blocks under the pattern cap
            cands = _diverse(rest, bucket, need, len(chosen) + 2 * need, X,
                             self.max_similarity, chosen, counted_from=len(chosen))
            cands = cands[len(chosen):]
            if len(cands) < need:  # only near-duplicates left: fill by score
                have = set(cands)
                cands += [int(i) for i in rest if int(i) not in have][: need - len(cands)]
            chosen += _deal(cands, bucket, cap, picks[1:], need)
        # Interleave the random picks evenly within each block, so a queue served
        # in this order mixes them in from the start at the batch's share.
        parts_out, parts_random = [], []
        at_pick = at_rand = 0
        for b, (p_b, r_b) in enumerate(zip(picks, n_rand, strict=True)):
            last = b == len(sizes) - 1  # whatever is left (a short pool) goes last
            out = np.asarray(chosen[at_pick:] if last else chosen[at_pick:at_pick + p_b],
                             dtype=np.intp)
            rand = random_picks[at_rand:] if last else random_picks[at_rand:at_rand + r_b]
            at_pick, at_rand = at_pick + p_b, at_rand + r_b
            is_random = np.zeros(out.size, dtype=bool)
            size = out.size + rand.size
            slots = np.linspace(0, size - 1, rand.size + 2)[1:-1].round().astype(int)
            for pos, i in zip(slots, rand, strict=True):
                at = min(pos, out.size)
                out = np.insert(out, at, i)
                is_random = np.insert(is_random, at, True)
            parts_out.append(out)
            parts_random.append(is_random)
        out = np.concatenate(parts_out) if parts_out else np.zeros(0, dtype=np.intp)
        is_random = np.concatenate(parts_random) if parts_random else np.zeros(0, dtype=bool)
        return Selection(out, scores[out], is_random)


def _unit(X: Any, rows: np.ndarray) -> Any:
    """Rows of ``X`` (dense or sparse) scaled to unit length (zero rows stay zero)."""
    import scipy.sparse as sp

    if sp.issparse(X):
        U = sp.csr_matrix(X[rows], dtype=np.float64)
        norms = np.sqrt(np.asarray(U.multiply(U).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ U)
    U = np.asarray(X[rows], dtype=np.float64)
    norms = np.linalg.norm(U, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return U / norms


def _dense(M: Any) -> np.ndarray:
    return np.asarray(M.toarray() if hasattr(M, "toarray") else M)


#: The near-duplicate filter compares a candidate with at most this many of the
#: items kept last (all of them for batches up to this size).
DIVERSITY_WINDOW = 1000


def _deal(cands: list[int], bucket: np.ndarray, cap: int, sizes: list[int], need: int
          ) -> list[int]:
    """``need`` of ``cands`` (best first) in blocks of ``sizes`` items (the last size
    for any beyond), each with at most ``cap`` items of one vote pattern where the
    candidates allow: an item over its block's cap waits, first in line, for the
    next block. The sizes are those of the blocks the caller cuts the result into
    (re-trial: dealt in blocks of the first size while a ranking's blocks held 9 or
    10 sampler picks, a block of 10 spanned two dealt ones and held up to 6 items of
    one pattern under a cap of 3)."""
    out: list[int] = []
    waiting: list[int] = []
    pos = 0
    b = 0
    while len(out) < need and (waiting or pos < len(cands)):
        size = min(max(1, sizes[min(b, len(sizes) - 1)]), need - len(out))
        b += 1
        counts: dict[int, int] = {}
        block: list[int] = []
        later: list[int] = []
        j = 0
        while len(block) < size and (j < len(waiting) or pos < len(cands)):
            if j < len(waiting):
                i, j = waiting[j], j + 1
            else:
                i, pos = cands[pos], pos + 1
            b = int(bucket[i])
            if counts.get(b, 0) < cap:
                block.append(i)
                counts[b] = counts.get(b, 0) + 1
            else:
                later.append(i)
        waiting = later + waiting[j:]
        if len(block) < size:  # the caps are too tight for what is left: lift them
            take = size - len(block)
            block, waiting = block + waiting[:take], waiting[take:]
        out += block
    return out


def _batch(order: np.ndarray, bucket: np.ndarray, cap: int, batch: int, X: Any,
           max_similarity: float, kept: list[int]) -> list[int]:
    """``kept`` plus items of ``order`` (none of them in ``kept``) up to ``batch``
    in all: at most ``cap`` per vote pattern among the new ones and no near-duplicate
    (:func:`_diverse`); if the caps are too tight for ``order``, lifted (still no
    near-duplicates); if only near-duplicates are left, filled by score."""
    start = len(kept)
    chosen = _diverse(order, bucket, cap, batch, X, max_similarity, kept, counted_from=start)
    if len(chosen) < batch:  # pattern caps too tight for the pool: lift them,
        taken = set(chosen)  # still no near-duplicates
        rest = np.asarray([i for i in order if int(i) not in taken], dtype=np.intp)
        chosen = _diverse(rest, bucket, batch, batch, X, max_similarity, chosen,
                          counted_from=start)
    if len(chosen) < batch:  # only near-duplicates left: fill by score
        taken = set(chosen)
        chosen += [int(i) for i in order if int(i) not in taken][: batch - len(chosen)]
    return chosen


def _diverse(order: np.ndarray, bucket: np.ndarray, cap: int, batch: int, X: Any,
             max_similarity: float, kept: list[int] | None = None,
             counted_from: int = 0) -> list[int]:
    """Walk ``order`` and keep items until ``batch`` are kept (counting ``kept``,
    those kept before): at most ``cap`` per vote pattern (counting ``kept`` from
    position ``counted_from`` on) and, with features ``X``, none with cosine
    similarity above ``max_similarity`` to one of the :data:`DIVERSITY_WINDOW`
    items kept last.

    Candidates are compared in blocks (one sparse product per block), so a
    queue of a thousand items out of a million costs a few products, not one per
    candidate; the result is the same as comparing one by one.
    """
    import scipy.sparse as sp

    chosen: list[int] = list(kept or [])
    per_bucket: dict[int, int] = {}
    for i in chosen[counted_from:]:
        per_bucket[int(bucket[i])] = per_bucket.get(int(bucket[i]), 0) + 1
    if len(chosen) >= batch:
        return chosen
    recent = chosen[-DIVERSITY_WINDOW:]
    window: Any = _unit(X, np.asarray(recent)) if X is not None and recent else None
    block = min(max(64, 2 * (batch - len(chosen))), DIVERSITY_WINDOW)
    start = 0
    while start < order.size:
        # the next candidates whose vote pattern is not full yet: a full one stays
        # full, so only these are compared (with a few rules most of a pool is one
        # full pattern, and comparing every candidate walked all of it: 7-25 s per
        # ranking of 16,000-45,000 items, new-user trial)
        cand: list[int] = []
        while start < order.size and len(cand) < block:
            i = int(order[start])
            start += 1
            if per_bucket.get(int(bucket[i]), 0) < cap:
                cand.append(i)
        if not cand:
            break
        if X is not None:
            U = _unit(X, np.asarray(cand))
            within = _dense(U @ U.T)
            prev = None if window is None else _dense(window @ U.T)  # (kept before, cand)
        kept_here: list[int] = []
        for j, i in enumerate(cand):
            b = int(bucket[i])
            if per_bucket.get(b, 0) >= cap:
                continue
            if X is not None:
                near = prev is not None and prev[:, j].max() > max_similarity
                if near or (kept_here and within[kept_here, j].max() > max_similarity):
                    continue
            chosen.append(i)
            kept_here.append(j)
            per_bucket[b] = per_bucket.get(b, 0) + 1
            if len(chosen) >= batch:
                return chosen
        if X is not None and kept_here:
            new = U[kept_here]
            if window is None:
                window = new
            else:
                window = sp.vstack([window, new]) if sp.issparse(new) else np.vstack([window, new])
            window = window[-DIVERSITY_WINDOW:]
    return chosen


def _n_items(*arrays: Any) -> int:
    for a in arrays:
        if a is not None:
            return len(a)
    raise ValueError("pass at least one of proba, L or lm_proba")


STRATEGIES: dict[str, type[Sampler]] = {
    "loop": LoopSampler,
    "random": RandomSampler,
    "uncertainty": UncertaintySampler,
    "conflict": LFConflictSampler,
    "abstain": AbstainSampler,
    "weasul": WeaSuLSampler,
}


#: Every name :func:`make_sampler` takes.
STRATEGY_NAMES = (*STRATEGIES, "lm_entropy", "margin", "least_confidence")


def make_sampler(name: str, batch_size: int = 10, random_state: Any = None) -> Sampler:
    """Build a sampler by strategy name (see ``STRATEGIES``).

    ``"lm_entropy"``, ``"margin"`` and ``"least_confidence"`` are
    :class:`UncertaintySampler` variants.
    """
    if name == "lm_entropy":
        return UncertaintySampler("entropy", "label_model", batch_size, random_state)
    if name in ("margin", "least_confidence"):
        return UncertaintySampler(name, "end_model", batch_size, random_state)
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGY_NAMES)}")
    return STRATEGIES[name](batch_size=batch_size, random_state=random_state)
