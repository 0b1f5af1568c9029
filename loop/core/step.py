"""One step of the closed loop, the same wherever the loop runs.

:class:`~loop.core.labeling_loop.LabelingLoop` (and through it ``loop simulate``
and the benchmarks) and the service's recalibration jobs all call these
functions, so what the benchmarks measure is what the service runs:

* :func:`fit_label_model`: votes ``L`` + gold ``y`` (and which gold was drawn at
  random) -> a fitted label model;
* :func:`fit_end_model`: features ``X`` + the label model's soft labels + gold ->
  a fitted end model;
* :func:`rank`: both models' probabilities -> a :class:`~loop.core.sampling.Selection`
  (which items to ask about next, their scores, which were drawn at random);
* :func:`loop_step`: the fast path after new answers, label model then ranking,
  with the end model's last output reused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from loop.core.end_model import EndModel, make_classifier
from loop.core.label_model import LabelModel
from loop.core.metrics import significantly_better
from loop.core.sampling import LoopSampler, Selection, copies, copies_among
from loop.core.types import LabelMatrix, Proba

#: Train the end model on at most this many soft-labeled rows (a uniform sample;
#: every gold row is always used). It still predicts every item. With the epoch
#: bound of :class:`EndModel` this keeps a retrain to seconds at any size.
END_MODEL_MAX_ROWS = 20_000
#: Rank at most this many unlabeled rows (a uniform sample, plus every gold row for
#: the per-pattern statistics); keeps a re-rank of a million items well under 1 s.
RANK_MAX_ROWS = 200_000


def _covered(L: LabelMatrix) -> np.ndarray:
    return np.asarray((np.asarray(L) >= 0).any(axis=1), dtype=bool)


#: The label model's gold check runs again once the random gold has grown by this
#: factor since it last ran; in between, fits keep its decisions.
RECHECK_GROWTH = 1.25


def fit_label_model(
    L: LabelMatrix, y: np.ndarray, random_gold: np.ndarray | None = None, *,
    n_classes: int, label_model: Any = None, random_state: Any = 0,
    checked: dict[str, Any] | None = None,
) -> Any:
    """A label model fitted on ``L`` and every gold label in ``y`` (-1 = unknown).

    Only gold in ``random_gold`` (drawn at random: exploration picks, uploaded or
    dev-set labels) re-estimates LF precisions; gold an uncertainty sampler
    picked is a biased sample and only fixes its own rows.

    ``checked``: the ``gold_check_`` of the previous fit. Until the random gold
    has grown by :data:`RECHECK_GROWTH` since that check (or the number of LFs
    changed), its decisions (how the gold enters the fit, whether the gold layer
    is used and abstentions read) are kept instead of checked again: a check is
    15 fits, and it ran on much the same gold. So the check runs at 30, 38, 48,
    ... random gold labels, as the end model's gold weight is re-chosen
    (:func:`update_gold_weight`).

    >>> L = np.array([[1, -1], [0, 0], [1, 1], [-1, 0]])
    >>> fit_label_model(L, np.array([1, -1, -1, -1]), n_classes=2).predict(L).shape
    (4,)
    """
    y = np.asarray(y, dtype=np.int64)
    rg = None if random_gold is None else np.asarray(random_gold, dtype=bool) & (y >= 0)
    model = (clone(label_model) if label_model is not None
             else LabelModel(n_classes=n_classes, random_state=random_state))
    n_random = int((y >= 0).sum()) if rg is None else int(rg.sum())
    keep = _kept_check(model, checked, n_random, np.shape(L)[1])
    if not keep:
        return model.fit(L, y, random_gold=rg)
    model.set_params(**keep).fit(L, y, random_gold=rg)
    # what the check found, at the gold it had, and that it was kept
    model.gold_check_ = {**(checked or {}), **(model.gold_check_ or {})}
    return model


def _kept_check(model: Any, checked: dict[str, Any] | None, n_random: int,
                n_lfs: int) -> dict[str, Any]:
    """The parameters that keep ``checked``'s decisions, or {} to check again
    (also when the LFs are not the ones checked)."""
    if (not checked or checked.get("use") is None or checked.get("n_lfs") != n_lfs
            or "gold_use" not in model.get_params() or model.get_params()["gold_use"]
            or not model.get_params().get("gold_check", False)):
        return {}
    if n_random >= RECHECK_GROWTH * int(checked.get("n_random_gold", 0)):
        return {}
    params = model.get_params()
    layer = params.get("gold_layer")
    found_layer = checked.get("gold_layer") or {}
    weight = float(found_layer.get("weight", 1.0)) if found_layer.get("used") else 0.0
    keep = {"gold_use": checked["use"], "gold_layer": weight if layer and weight > 0 else False}
    if "abstentions" in params:
        found = checked.get("abstentions") or {}
        silent = bool(found.get("used"))
        w = found.get("weights") or {}
        keep["abstentions"] = (False if not (params["abstentions"] and silent) else
                               (float(w.get("votes", 0.0)), float(w.get("silence", 0.0)),
                                float(w.get("rates", 0.0))) if w else
                               "rates" if found.get("reading") == "rates" else "use")
    return keep


def soft_labels(lm_proba: Proba, L: LabelMatrix) -> Proba:
    """The label model's probabilities on rows some LF votes on, NaN elsewhere
    (rows no LF covers carry no evidence from the LFs)."""
    soft = np.array(lm_proba, dtype=np.float64)
    soft[~_covered(L)] = np.nan
    return soft


#: Gold weights (relative to a soft-labeled row) :func:`choose_gold_weight` tries.
GOLD_WEIGHTS = (3.0, 10.0, 30.0, 100.0)
#: Gold labels needed before the gold weight is chosen by cross-validation.
MIN_GOLD_FOR_CV = 30
#: Folds of that cross-validation, and the end models it fits in all.
GOLD_WEIGHT_FOLDS = 3
GOLD_WEIGHT_FITS = GOLD_WEIGHT_FOLDS * len(GOLD_WEIGHTS)


def fit_end_model(
    X: Any, lm_proba: Proba, L: LabelMatrix, y: np.ndarray, *, n_classes: int,
    end_model: Any = None, max_rows: int | None = END_MODEL_MAX_ROWS, random_state: Any = 0,
    gold_weight: float | None = None, leave_out: np.ndarray | None = None,
) -> Any:
    """An end model fitted on features ``X``: soft labels where an LF voted, plus gold.

    Above ``max_rows`` soft-labeled rows a uniform sample of them (seeded by the
    number of gold labels) is used; every gold row always is. ``gold_weight``
    overrides the end model's weight of a gold row (see :func:`choose_gold_weight`).
    ``leave_out``: rows (a bool mask or indices) not fitted on at all, not even
    by their soft label: the items held out to score it. Fitted on its own soft
    label, an item is predicted much as the label model labels it (YouTube, no
    gold: 0.888 on test rows fitted so, 0.928 on test rows left out; a service
    trial), so a score on it would say little about the items the end model labels
    for itself (those no LF votes on) or about new data.
    """
    y = np.asarray(y, dtype=np.int64)
    soft = soft_labels(lm_proba, L)
    if leave_out is not None:
        soft[leave_out] = np.nan
        y = y.copy()
        y[leave_out] = -1
    model = (clone(end_model) if end_model is not None
             else EndModel(make_classifier(random_state=random_state), n_classes=n_classes))
    if gold_weight is not None:
        model.set_params(gold_weight=float(gold_weight))
    soft_rows = np.flatnonzero(~np.isnan(soft[:, 0]) & (y < 0))
    if max_rows is None or soft_rows.size <= max_rows:
        return model.fit(X, soft, y)
    rng = np.random.default_rng(int((y >= 0).sum()))
    keep = np.union1d(rng.choice(soft_rows, size=max_rows, replace=False),
                      np.flatnonzero(y >= 0))
    return model.fit(X[keep], soft[keep], y[keep])


def choose_gold_weight(
    X: Any, lm_proba: Proba, L: LabelMatrix, y: np.ndarray, *, n_classes: int,
    end_model: Any = None, weights: tuple[float, ...] = GOLD_WEIGHTS,
    n_folds: int = GOLD_WEIGHT_FOLDS, max_rows: int | None = END_MODEL_MAX_ROWS,
    random_state: Any = 0, judge: np.ndarray | None = None,
    leave_out: np.ndarray | None = None, progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """How much should a gold row weigh against a soft-labeled one? What the gold
    says: for each weight in ``weights``, end models fitted on the soft labels
    plus all but one fold of the gold predict the held-out fold; the weight with
    clearly more held-out gold right than the current one wins. With little gold
    the weak labels carry the end model; as gold accumulates it can outweigh them,
    so the loop follows active learning where gold is plentiful.

    ``judge``: a bool mask of the gold rows that may be held out and scored (the
    random gold: an unbiased sample of the items). Sampler-picked gold is where
    the models are unsure, so it rewards trusting gold over weak labels far more
    than the items at large do; it then always stays in the fit. With fewer than
    :data:`MIN_GOLD_FOR_CV` judge rows the end model's own weight stays.

    ``progress(done, total)`` is called after each of the ``n_folds * len(weights)``
    fits (none when there is too little gold to judge by): they take most of a
    minute on 100,000 items, and a caller reports its progress meanwhile.

    Returns ``{"gold_weight", "n_gold", "n_judged", "correct": {weight: rows right}}``.
    """
    y = np.asarray(y, dtype=np.int64)
    gold = np.flatnonzero(y >= 0)
    judged = gold if judge is None else np.flatnonzero(np.asarray(judge, bool) & (y >= 0))
    base = float(end_model.get_params()["gold_weight"] if end_model is not None
                  else EndModel().gold_weight)
    if judged.size < MIN_GOLD_FOR_CV:
        return {"gold_weight": base, "n_gold": int(gold.size), "n_judged": int(judged.size),
                "correct": {}}
    gold = judged
    folds = np.array_split(np.random.default_rng(0).permutation(gold), n_folds)
    right = {w: np.zeros(gold.size, dtype=bool) for w in weights}
    pos, fits = 0, 0
    for fold in folds:
        y_f = y.copy()
        y_f[fold] = -1  # held out: back to unlabeled (a soft label where an LF voted)
        for w in weights:
            m = fit_end_model(X, lm_proba, L, y_f, n_classes=n_classes, end_model=end_model,
                              max_rows=max_rows, random_state=random_state, gold_weight=w,
                              leave_out=leave_out)
            right[w][pos:pos + fold.size] = m.predict(X[fold]) == y[fold]
            fits += 1
            if progress is not None:
                progress(fits, len(folds) * len(weights))
        pos += fold.size
    # The end model's own weight stays unless another predicts the held-out gold
    # better by more than two standard errors of the paired difference: a few
    # dozen sampler-picked rows are a noisy judge.
    best = base if base in right else weights[0]
    for w in weights:
        if w == best:
            continue
        if significantly_better(right[w], right[best]):
            best = w
    correct = {w: int(r.sum()) for w, r in right.items()}
    return {"gold_weight": float(best), "n_gold": int((y >= 0).sum()),
            "n_judged": int(gold.size), "correct": correct}


def update_gold_weight(
    X: Any, lm_proba: Proba, L: LabelMatrix, y: np.ndarray, *, n_classes: int,
    current: float | None, chosen_at: int, end_model: Any = None,
    judge: np.ndarray | None = None, leave_out: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[float | None, int]:
    """``(gold_weight, chosen_at)`` for the next end model: re-chosen by
    :func:`choose_gold_weight` once there are :data:`MIN_GOLD_FOR_CV` gold labels
    and again each time the gold has grown by a quarter since it was last chosen
    (at ``chosen_at`` gold labels); else ``current``. ``LabelingLoop`` and the
    service's end-model job both keep the weight this way. ``progress``: as for
    :func:`choose_gold_weight`, when it runs."""
    n_gold = int((np.asarray(y) >= 0).sum())
    if n_gold >= MIN_GOLD_FOR_CV and n_gold >= 1.25 * chosen_at:
        w = choose_gold_weight(X, lm_proba, L, y, n_classes=n_classes,
                               end_model=end_model, judge=judge,
                               leave_out=leave_out, progress=progress)["gold_weight"]
        return float(w), n_gold
    return current, chosen_at


def rank(
    L: LabelMatrix, lm_proba: Proba, y: np.ndarray, n: int, *, end_proba: Proba | None = None,
    X: Any = None, exclude: Any = None, sampler: Any = None,
    max_rows: int | None = RANK_MAX_ROWS, random_state: Any = 0,
    gold_proba: Proba | None = None, twin_groups: np.ndarray | None = None,
) -> Selection:
    """Up to ``n`` items to ask an expert about next, best first.

    Items with gold and those in ``exclude`` (a bool mask: held out, leased, ...)
    are never picked, nor, with features ``X``, an exact copy of one of them or of
    another candidate (:func:`~loop.core.sampling.copies`). ``sampler`` (default
    :class:`LoopSampler`) gets the end model's probabilities ``end_proba`` (None
    before the first end model), the label model's, the gold so far and the
    features ``X`` (for its near-duplicate filter), and ``gold_proba``, the
    probabilities of the same end model fitted on the gold alone
    (:meth:`~loop.core.end_model.EndModel.gold_view_proba`; None when it had
    none). Above ``max_rows`` candidates
    a uniform sample of them is ranked (seeded by the number of gold labels).
    ``twin_groups``: :func:`~loop.core.sampling.twins` of ``X``, for a caller that
    keeps them (finding them is the costly part: a second at a million rows); the
    same copies either way.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    y = np.asarray(y, dtype=np.int64)
    skip = y >= 0
    if exclude is not None:
        mask = np.asarray(exclude)
        if mask.shape != skip.shape or mask.dtype.kind not in "bui":
            raise ValueError(f"exclude must be a bool mask over all {skip.size} items, got "
                             f"shape {mask.shape}; for indices: mask = np.zeros({skip.size}, "
                             "bool); mask[indices] = True")
        skip = skip | mask.astype(bool)
    pool = np.flatnonzero(~skip)
    if pool.size == 0:
        return Selection.of([])
    sub: np.ndarray | slice = slice(None)
    if max_rows is not None and pool.size > max_rows:
        rng = np.random.default_rng(int((y >= 0).sum()))
        sub = np.union1d(rng.choice(pool, size=max_rows, replace=False), np.flatnonzero(y >= 0))
    if X is not None:  # a copy of an answered, queued or held-out item, or of another
        look = (np.arange(skip.size) if isinstance(sub, slice)
                else np.union1d(sub, np.flatnonzero(skip)))
        skip = skip.copy()
        if twin_groups is None:
            skip[look[copies(X if isinstance(sub, slice) else X[look], skip[look])]] = True
        else:  # the groups' rows outside ``look`` left out: copies among ``look`` alone
            inside = np.zeros(skip.size, dtype=bool)
            inside[look] = True
            skip |= copies_among(twin_groups[:, inside[twin_groups[0]]], skip)
        if not skip[sub].size or skip[sub].all():
            return Selection.of([])
    s = copy.copy(sampler) if sampler is not None else LoopSampler(random_state=random_state)
    s.batch_size = min(int(n), int((~skip[sub]).sum()))
    sel = s.select(None if end_proba is None else np.asarray(end_proba)[sub], L=np.asarray(L)[sub],
                   lm_proba=np.asarray(lm_proba)[sub], y=y[sub],
                   X=None if X is None else X[sub], exclude=skip[sub],
                   gold_proba=None if gold_proba is None else np.asarray(gold_proba)[sub])
    if isinstance(sub, slice):
        return sel
    return Selection(sub[sel.indices].astype(np.intp), sel.scores, sel.random)


@dataclass(frozen=True)
class StepResult:
    """The output of :func:`loop_step`."""

    label_model: Any
    lm_proba: Proba
    selection: Selection


def loop_step(
    L: LabelMatrix, y: np.ndarray, random_gold: np.ndarray | None, n: int, *, n_classes: int,
    end_proba: Proba | None = None, X: Any = None, exclude: Any = None, sampler: Any = None,
    label_model: Any = None, max_rows: int | None = RANK_MAX_ROWS, random_state: Any = 0,
    checked: dict[str, Any] | None = None, gold_proba: Proba | None = None,
    twin_groups: np.ndarray | None = None,
) -> StepResult:
    """After new answers: refit the label model with all gold, then rank the next
    ``n`` items with it and the end model's last probabilities ``end_proba`` (and
    its gold-only model's, ``gold_proba``, and ``twin_groups``: see :func:`rank`).
    ``checked``: the label model's last gold check (see :func:`fit_label_model`).

    >>> L = np.array([[1, -1], [0, 0], [1, 1], [-1, 0], [-1, -1], [0, 1]])
    >>> y = np.array([1, -1, -1, -1, -1, -1])
    >>> out = loop_step(L, y, None, 2, n_classes=2)
    >>> out.lm_proba.shape, len(out.selection)
    ((6, 2), 2)
    """
    lm = fit_label_model(L, y, random_gold, n_classes=n_classes, label_model=label_model,
                         random_state=random_state, checked=checked)
    proba = lm.predict_proba(L)
    sel = rank(L, proba, y, n, end_proba=end_proba, X=X, exclude=exclude, sampler=sampler,
               max_rows=max_rows, random_state=random_state, gold_proba=gold_proba,
               twin_groups=twin_groups)
    return StepResult(lm, proba, sel)
