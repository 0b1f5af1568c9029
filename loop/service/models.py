"""The loop's model steps over a project in Redis: the functions of
:mod:`loop.core.step` (the ones ``LabelingLoop`` and the benchmarks run) fed
with the project's state, their outputs stored and the queue re-ranked.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from loop.core.end_model import features_version, make_text_features
from loop.core.relations import entity_key, relation_text
from loop.core.sampling import Selection, copies_among, split_twins, twins
from loop.core.step import (
    GOLD_WEIGHT_FITS,
    fit_end_model,
    loop_step,
    rank,
    update_gold_weight,
)
from loop.errors import NotReady
from loop.service.state import State
from loop.storage import RedisStore
from loop.storage.matrices import MODELS

log = logging.getLogger(__name__)
#: The text features' code version, once per process (each job would hash it again).
_FEATURES_VERSION = features_version()
Progress = Callable[[int, int], None]
#: Asked right before a run writes anything: False when the run no longer holds
#: its project's lock (it was paused past the lock's TTL and another run took over).
Fence = Callable[[], bool]
#: Steps an end-model retrain reports: its features read, each fit of the gold
#: weight's cross-validation (passed over at once when the weight is kept), its
#: fit, its ranking. Speed trial: a retrain that chose the weight at 100,000 items
#: reported 1 of 3 steps and then nothing for 91 s, most of the 120 s after which
#: the dashboard says a job made no progress and its worker may be frozen.
END_MODEL_STEPS = 3 + GOLD_WEIGHT_FITS


class Superseded(Exception):
    """A run found, before writing, that it lost its lock (a newer run may have taken
    over): it writes nothing."""


class LabelModelBehind(NotReady):
    """The label model was fitted before the newest items got their LF votes: the
    recalibration that follows their apply run fits it on them (then retrains)."""


class NothingToLearn(NotReady):
    """No LF votes on an item outside the held-out labels, and no answers: the end
    model has nothing to be trained on yet (a retrain is skipped, not failed)."""


def _check(fence: Fence | None, what: str, pid: str) -> None:
    if fence is not None and not fence():
        raise Superseded(f"project {pid}: this {what} lost its lock while it ran (paused "
                         "or frozen past the lock's TTL), so it writes nothing: another "
                         "run may hold the lock now")


def _save(store: RedisStore, pid: str, name: str, proba: np.ndarray,
          summary: dict[str, Any], fit_gold: np.ndarray | None = None,
          also: dict[str, np.ndarray | None] | None = None) -> None:
    if not store.save_model(pid, name, proba, summary, fit_gold=fit_gold, also=also):
        raise Superseded(f"project {pid}: a {name} fitted on newer state is stored; this "
                         "run's older one is not written")


def text_features(store: RedisStore, st: State, build: bool = True) -> Any:
    """TF-IDF features of every item, built once per item set and kept in Redis.

    Items are append-only, so the item count identifies the item set; a new upload
    makes the next end-model training rebuild them, and so does another version of
    the code that builds them (:func:`~loop.core.end_model.features_version`).
    ``build=False``: None when they are not built yet (the fast path never builds
    them).
    """
    version = f"{st.n}:{_FEATURES_VERSION}"
    X = store.load_features(st.pid, version)
    if X is None and build:
        texts = [relation_text(i["text"], i.get("fields")) for i in store.items(st.pid)]
        (X,) = make_text_features(texts)
        X = store.save_features(st.pid, version, X)
    return X


def _reason(votes: np.ndarray) -> str:
    fired = votes[votes >= 0]
    if fired.size == 0:
        return "no_lf_fired"
    return "lfs_conflict" if np.unique(fired).size > 1 else "model_uncertain"


def save_agreement(store: RedisStore, st: State, lm: np.ndarray | None,
                   em: np.ndarray | None) -> None:
    """How often the two models pick the same label on the items some LF votes on
    (the dashboard's "model agreement"). Elsewhere the label model can only guess
    its class balance, so agreement there says nothing: a new user's project with
    rules for 3 of 7 labels showed 100% while the end model was right on 25% of
    the items no rule covered."""
    if lm is None or em is None or lm.shape != em.shape or lm.shape[0] != st.n:
        return
    covered = (st.L >= 0).any(axis=1)
    n = int(covered.sum())
    same = float((lm[covered].argmax(1) == em[covered].argmax(1)).mean()) if n else None
    store.set_value(st.pid, "agreement", {"agreement": same, "n_covered": n, "n_items": st.n})


def publish_ranking(store: RedisStore, st: State, sel: Selection,
                    groups: np.ndarray | None = None) -> dict[str, Any]:
    """Write a ranking as the queue (unless one from newer state is there): the
    sampler's order is kept, random picks are marked "exploration" (an answer is
    random gold when its item was leased as one, see ``lease.lua``).

    With the :func:`twin_groups` of the features the ranking was made with, the
    exact copies it passed over (:func:`~loop.core.sampling.copies` of the items answered, held out
    or leased, and of each other) leave the pool with it, so that the pool's random
    draw never asks about them either, as the loop the benchmarks measure never does.
    """
    n = len(sel)
    ids = store.ids_at(st.pid, sel.indices)
    ranking = [(iid, float(n - rank_) + float(sc) / 1e3,
                "exploration" if r else _reason(st.L[i]))
               for rank_, (iid, i, sc, r) in enumerate(
                   zip(ids, sel.indices, sel.scores, sel.random, strict=True))]
    replaced = store.replace_queue(st.pid, ranking, st.version, copies=_copies(store, st, groups))
    if not replaced:
        log.info("project %s: a ranking from newer state is queued; kept it", st.pid)
    return {"queue_size": n, "queue_replaced": replaced}


def twin_groups(store: RedisStore, st: State, X: Any) -> np.ndarray | None:
    """:func:`~loop.core.sampling.twins` of the features ``X`` of ``st``'s items,
    found once per item set and kept in Redis (a million items: a second, which every
    ranking spent twice), or None without features."""
    if X is None or X.shape[0] != st.n:
        return None
    version = f"{st.n}:{_FEATURES_VERSION}:pairs"
    groups = store.load_twins(st.pid, version)
    if groups is None:
        groups = twins(X)
        # relation data: one sentence naming several entity pairs is several
        # questions (new-user trial, chemprot: 855 of 3,214 items were never asked,
        # each exported with the label of another pair of its sentence)
        if groups.shape[1]:
            keys = [entity_key(i.get("fields")) for i in
                    store.items(st.pid, store.ids_at(st.pid, groups[0]))]
            if any(keys):
                groups = split_twins(groups, keys)
        store.save_twins(st.pid, version, groups)
    return groups


def _copies(store: RedisStore, st: State, groups: np.ndarray | None) -> np.ndarray | None:
    """The rows of the items that are exact copies of an answered, held-out, leased
    or pending item or of an earlier one (:func:`~loop.core.sampling.copies`, from
    :func:`twin_groups`), or None without features."""
    if groups is None:
        return None
    taken = (st.y >= 0) | st.exclude()
    taken[st.rows(store.pending_ids(st.pid))] = True  # a tie has no gold label
    return np.flatnonzero(copies_among(groups, taken))


def check_unseen(store: RedisStore, st: State) -> int:
    """Score the stored models on the exploration answers they have not seen yet.

    Exploration picks are drawn uniformly from the items nobody has answered, the
    items whose labels the export takes from the models. Each such answer is looked
    at once per model, the first time a run reads that model after the answer came:
    if the stored model was fitted without it (``fit_gold`` of
    :meth:`~loop.storage.RedisStore.save_model`), its class for the item is kept
    and later scored against the answer (:func:`loop.service.reports.unseen_scores`),
    a held-out check that needs no uploaded labels (prequential: each answer is
    predicted by the model of its moment, so older models count too). The label
    model is checked where an LF votes (elsewhere it only guesses the balance), as
    on the held-out uploaded labels. Returns how many checks were kept.
    """
    ids = sorted(store.audit_ids(st.pid))
    if not ids:
        return 0
    rows = store.rows_of(st.pid, ids)
    voted: np.ndarray | None = None  # rows an LF votes on, read once if a check needs it
    kept = 0
    for name in MODELS:
        done = store.unseen_checks(st.pid, name)
        if name == "end_model":
            _note_where_lfs_voted(store, st, done, dict(zip(ids, rows.tolist(), strict=True)))
        new = [(i, int(r)) for i, r in zip(ids, rows, strict=True)
               if i not in done and 0 <= r < st.n and st.y[r] >= 0]
        if not new:
            continue
        got = store.load_model(st.pid, name, st.k)
        if got is None:
            continue
        proba, summary, fit_gold = got
        if fit_gold is None or proba.shape[0] != st.n:
            continue  # stored before items were added (or before fit_gold was kept)
        if voted is None:
            voted = np.asarray((st.L >= 0).any(axis=1), dtype=bool)
        checks = {}
        for iid, r in new:
            seen = bool(fit_gold[r]) or (name == "label_model" and not voted[r])
            # the end model also notes whether an LF voted on the item, so that its score
            # can be read beside the label model's, on the same items (new-user trial:
            # "label model 94% where an LF votes, end model 71%" read as the exported
            # labels being the worse ones; the end model had 16 of the same 17 right)
            where = f":{int(voted[r])}" if name == "end_model" else ""
            checks[iid] = ("-" if seen else
                           f"{int(np.argmax(proba[r]))}:{summary.get('n_gold', 0)}{where}")
        store.note_unseen(st.pid, name, checks)
        kept += sum(v != "-" for v in checks.values())
    return kept


def _note_where_lfs_voted(store: RedisStore, st: State, done: dict[str, str],
                          row_of: dict[str, int]) -> None:
    """The end model's checks noted before they said whether an LF voted on the item
    get it now, from the LFs as they are: a project upgraded with its checks would
    otherwise never see its end model's score split where an LF votes and where none
    does (:func:`loop.service.reports.unseen_scores` splits it only when every check
    says)."""
    old = {i: v for i, v in done.items()
           if v != "-" and v.count(":") == 1 and 0 <= row_of.get(i, -1) < st.n}
    if not old:
        return
    voted = np.asarray((st.L[[row_of[i] for i in old]] >= 0).any(axis=1), dtype=bool).tolist()
    store.note_unseen(st.pid, "end_model", {i: f"{v}:{int(w)}" for (i, v), w in
                                            zip(old.items(), voted, strict=True)},
                      replace=True)


def _check_unseen(store: RedisStore, st: State) -> None:
    """:func:`check_unseen`, whose data errors are logged, not raised: a score for the
    dashboard must never stop the loop from closing."""
    try:
        check_unseen(store, st)
    except (ValueError, KeyError, IndexError, TypeError):
        log.exception("project %s: the check on unseen random picks failed; the run goes on",
                      st.pid)


def _end_probas(store: RedisStore, st: State) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The stored end model's probabilities and its model of the gold alone's
    (``EndModel.gold_view_proba``, written with it), for the sampler: both None when
    there is no end model for every item, the second when that fit had none."""
    em, gp = store.load_probas(st.pid, ["end_model", "gold_view"], st.k)
    if em is None or em.shape[0] != st.n:
        return None, None
    return em, gp if gp is not None and gp.shape[0] == st.n else None


def recalibrate(store: RedisStore, pid: str, queue_size: int, *,
                progress: Progress | None = None, fence: Fence | None = None,
                ) -> dict[str, Any]:
    """The fast path after answers: refit the label model with all gold and re-rank
    the queue with it and the end model's last output (:func:`loop_step`).

    Appends a point to the metrics history (its ``id`` lets the end-model
    retrain that follows fill in its score) and returns it. Raises
    :class:`Superseded` when ``fence`` says the run lost its lock (asked before
    the model and before the point are written), or a label model of newer state
    is stored: a stale run writes nothing, or no more than its model, which was
    then still the newest.
    """
    st = State(store, pid)
    if not (st.L >= 0).any():
        # not a moment's state: a retry finds the same (re-trial: an LF that failed on
        # every item, then this failed three times with the label model's message)
        raise NotReady("no LF votes on any item (each abstains or fails on every one): "
                       "the label model has nothing to learn from. The LF table says "
                       "which LFs fail and why; fix them or write a rule, then apply")
    _check_unseen(store, st)  # before this run's label model has seen the new answers
    X = text_features(store, st, build=False)
    groups = twin_groups(store, st, X)
    em, gold = _end_probas(store, st)
    # the label model's last gold check: kept until the random gold grows by a quarter
    last = store.model_summary(pid, "label_model") or {}
    out = loop_step(st.L, st.y, st.random_gold, queue_size, n_classes=st.k, end_proba=em, X=X,
                    exclude=st.exclude(), checked=last.get("gold_check"),
                    gold_proba=gold, twin_groups=groups)
    _check(fence, "recalibration", pid)
    _save(store, pid, "label_model", out.lm_proba, {
        "accuracy": [None if not np.isfinite(a) else float(a)
                     for a in np.asarray(getattr(out.label_model, "accuracy_", []), float)],
        "class_prior": np.asarray(out.label_model.class_prior_, float).tolist(),
        "gold_check": out.label_model.gold_check_,
        "n_random_gold": int(st.random_gold.sum()),
        "held_out": st.eval_report(out.lm_proba, covered_only=True),
        "n_gold": st.n_gold, "fitted_at": time.time(), "state_version": st.version},
        fit_gold=st.y >= 0)
    save_agreement(store, st, out.lm_proba, em)
    if progress is not None:
        progress(1, 2)
    queued = publish_ranking(store, st, out.selection, groups)
    # the end model's score belongs on this point only if it was trained on this
    # much gold; else the retrain this run asks for fills it in (or gets its own
    # point), and an older model's score is not shown at a gold count it never saw
    trained_at = (store.model_summary(pid, "end_model") or {}).get("n_gold")
    ours = em is not None and trained_at == st.n_gold
    _check(fence, "recalibration", pid)  # paused after its model: no stale point either
    point = {"id": uuid.uuid4().hex[:12], "n_gold": st.n_gold,
             # where an LF votes, the only items it reads (see State.eval_covered)
             "label_model": st.eval_score(out.lm_proba, covered_only=True),
             "end_model": st.eval_score(em) if ours else None,
             # ... and the end model there too, to read the two on the same items
             "end_model_covered": st.eval_score(em, covered_only=True) if ours else None,
             "n_eval": int(st.eval_rows()[0].size),
             "n_eval_covered": int(st.eval_covered().sum()), "at": time.time()}
    store.append_metric(pid, point)
    store.set_value(pid, "last_recalibrated_at", point["at"])
    if progress is not None:
        progress(2, 2)
    return {**point, **queued}


def retrain_end_model(store: RedisStore, pid: str, queue_size: int, *,
                      point_id: str | None = None, progress: Progress | None = None,
                      fence: Fence | None = None) -> dict[str, Any]:
    """The slow path: retrain the end model on the label model's newest soft labels
    plus gold (a gold row's weight kept as ``LabelingLoop`` keeps it,
    :func:`~loop.core.step.update_gold_weight`), then re-rank from the state as it
    is *after* training (answers that came in meanwhile count), and fill in the end
    model's score on metrics point ``point_id`` (default: the newest), or, when it
    was trained on more gold than that point counts, on a point of its own.
    :class:`Superseded` as for :func:`recalibrate`."""
    st = State(store, pid)
    _check_unseen(store, st)
    # which label model it learns from, read before it (a newer one saved between the
    # two reads only makes the reconciler retrain once more)
    lm_fitted_at = (store.model_summary(pid, "label_model") or {}).get("fitted_at")
    lm = store.load_proba(pid, "label_model", st.k)
    if lm is None:
        raise NotReady("fit the label model first (job type recalibrate)")
    if lm.shape[0] != st.n:
        raise LabelModelBehind(f"the label model knows {lm.shape[0]:,} of {st.n:,} items: "
                               "a recalibration fits it on the new ones, then retrains")
    held_out = st.eval_rows()[0]  # scored on, never fitted on (not even a soft label)
    fit_rows = np.ones(st.n, dtype=bool)
    fit_rows[held_out] = False
    if not ((st.L[fit_rows] >= 0).any() or (st.y[fit_rows] >= 0).any()):
        # re-trial: a first rule that matched only held-out items failed the retrain
        # with "nothing to train on" and a traceback in the worker's log
        raise NothingToLearn("no LF votes on an item outside the held-out labels, and no "
                             "answers yet: the end model has nothing to learn from; it is "
                             "trained once an LF votes on other items or an answer comes")
    X = text_features(store, st)
    steps = END_MODEL_STEPS
    if progress is not None:
        progress(1, steps)
    last = store.model_summary(pid, "end_model") or {}
    weight, chosen_at = update_gold_weight(
        X, lm, st.L, st.y, n_classes=st.k, current=last.get("gold_weight"),
        chosen_at=int(last.get("gold_weight_at", 0)), judge=st.random_gold,
        leave_out=held_out,
        progress=None if progress is None else lambda done, _: progress(1 + done, steps))
    model = fit_end_model(X, lm, st.L, st.y, n_classes=st.k, gold_weight=weight,
                          leave_out=held_out)
    proba = model.predict_proba(X)
    gold_proba = model.gold_view_proba(X)
    _check(fence, "end-model retrain", pid)
    _save(store, pid, "end_model", proba, {
        "gold_weight": weight, "gold_weight_at": chosen_at, "n_gold": st.n_gold,
        "held_out": st.eval_report(proba),
        # where an LF votes, the items the label model's report is on
        "held_out_covered": st.eval_report(proba, covered_only=True),
        "lm_fitted_at": lm_fitted_at,
        "fitted_at": time.time(), "state_version": st.version}, fit_gold=st.y >= 0,
        also={"gold_view": gold_proba})
    lm_now = store.load_proba(pid, "label_model", st.k)  # the newest, for what follows
    save_agreement(store, st, lm_now, proba)
    if progress is not None:
        progress(steps - 1, steps)
    try:
        now: State | None = State(store, pid)
    except NotReady:  # items came while it trained, without LF votes yet
        now = None
    if now is not None and now.n == st.n:
        if lm_now is None or lm_now.shape[0] != now.n:
            lm_now = lm
        groups = twin_groups(store, now, X)
        sel = rank(now.L, lm_now, now.y, queue_size, end_proba=proba, X=X,
                   exclude=now.exclude(), gold_proba=gold_proba, twin_groups=groups)
        queued: dict[str, Any] = publish_ranking(store, now, sel, groups)
    else:
        # Items were added while it trained (fault trial: a broadcast error ranked 2,556
        # predictions against 2,856 items): the apply run that gives them their votes
        # recalibrates and re-ranks; this model's score on the held-out rows stands.
        queued = {"queue_size": None, "queue_replaced": False,
                  "not_ranked": "items were added while it trained; the apply run that "
                                "gives them LF votes re-ranks the queue"}
    score = st.eval_score(proba)
    covered = st.eval_score(proba, covered_only=True)  # where the label model is scored
    _check(fence, "end-model retrain", pid)
    hist = store.metrics_history(pid, last=100)  # its point is among the newest
    point = next((h for h in hist if h.get("id") == point_id), None) if point_id else (
        hist[-1] if hist else None)
    if point is not None and point.get("n_gold") == st.n_gold:
        store.update_metric(pid, point["id"], {"end_model": score, "end_model_covered": covered})
    else:  # trained on more answers than the recalibration that asked for it saw
        store.append_metric(pid, {"id": uuid.uuid4().hex[:12], "n_gold": st.n_gold,
                                  "label_model": None, "end_model": score,
                                  "end_model_covered": covered,
                                  "n_eval": int(st.eval_rows()[0].size),
                                  "n_eval_covered": int(st.eval_covered().sum()),
                                  "at": time.time()})
    if progress is not None:
        progress(steps, steps)
    return {"n_gold": st.n_gold, "end_model": score, "end_model_covered": covered, **queued}


def refill(store: RedisStore, pid: str, queue_size: int) -> dict[str, Any]:
    """Re-rank with the stored probabilities (no model is fitted: cheap)."""
    st = State(store, pid)
    lm = store.load_proba(pid, "label_model", st.k)
    if lm is None or lm.shape[0] != st.n:
        raise NotReady("fit the label model first (job type recalibrate)")
    em, gold = _end_probas(store, st)
    X = text_features(store, st, build=False)
    groups = twin_groups(store, st, X)
    sel = rank(st.L, lm, st.y, queue_size, end_proba=em, X=X, exclude=st.exclude(),
               gold_proba=gold, twin_groups=groups)
    return publish_ranking(store, st, sel, groups)
