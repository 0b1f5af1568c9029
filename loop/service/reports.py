"""What the dashboard shows: the LF table and the project's metrics."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from loop.agreement import fleiss, pairs
from loop.core.analysis import lf_summary
from loop.core.label_model import ACCURACY_PRIOR, LabelModel
from loop.core.metrics import proportion_interval
from loop.core.step import RECHECK_GROWTH
from loop.service.recalibration import retry_at
from loop.service.rules import uploaded_lf_names
from loop.service.state import known_labels, random_gold_rows
from loop.storage import RedisStore
from loop.storage.matrices import MODELS

#: Below this many held-out items a score means little (the dashboard warns).
MIN_EVAL = 30


def _nan_none(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def lf_stats(store: RedisStore, pid: str) -> dict[str, Any]:
    """Per-LF coverage, overlaps, conflicts, accuracy against all known gold, and
    the label model's learned accuracy."""
    project = store.get_project(pid)
    L, meta = store.load_L(pid)
    if L is None:  # not applied yet: no rows, but the known labels exist already
        known = known_labels(store, pid, store.n_items(pid), held_out=False)
        return {"lfs": [], "n_gold": int((known >= 0).sum())}
    # not the held-out labels: they score the models, and LFs tuned on them would
    # make that score optimistic (as the suggestions, which never read them)
    y = known_labels(store, pid, L.shape[0], held_out=False)
    summary = store.model_summary(pid, "label_model") or {}
    acc = summary.get("accuracy")
    acc_arr = (None if acc is None or len(acc) != L.shape[1]
               else np.array([np.nan if a is None else a for a in acc], dtype=float))
    errs = {e["lf"]: e for e in meta.get("errors", [])}
    rows = lf_summary(L, meta["lf_names"], y=y, learned_accuracy=acc_arr,
                      errors={n: e["count"] for n, e in errs.items()},
                      random_gold=random_gold_rows(store, pid, y))
    rules = store.rules(pid)
    uploaded_names = uploaded_lf_names(store, pid)
    uploaded = set(uploaded_names)
    off = store.lfs_off(pid)
    for r in rows:
        # a rule deleted or switched off keeps its column until the LFs are applied
        # again (new-user trial: shown for a moment as a module's LF); in a project
        # without a module, every LF is a rule
        rule = rules.get(r["name"])
        r["source"] = ("votes" if r["name"] in uploaded else "rule"
                       if rule is not None or not project.get("lf_module") else "module")
        r["enabled"] = ((rule or {}).get("enabled", False) if r["source"] == "rule"
                        else r["name"] not in off)
        r["leaving"] = not r["enabled"]  # its column goes at the next apply run
        r["arriving"] = False  # applied: every row names it, as the API reference does
        # an edited rule's column is the old definition's until the LFs are applied
        # again (concurrency trial: its coverage was shown for the new one, unflagged)
        r["changing"] = bool(rule is not None and r["enabled"] and r["source"] == "rule"
                             and _rule_print(rule, len(project["labels"]))
                             != (meta.get("fingerprints") or {}).get(r["name"]))
        r["polarity"] = [project["labels"][c] for c in r["polarity"]]
        r.setdefault("learned_accuracy", None)
        r["learned_accuracy"] = _nan_none(r["learned_accuracy"])
        # a one-sided LF's precision comes from random gold (uploaded labels, answers
        # to exploration picks) on its items; before any, it is the label model's
        # prior guess (new-user trial: 70.0% for every rule, without the tag, after
        # 42 answers none of the random ones on their items)
        # (one that random gold elsewhere moved, through the class balance, is not)
        reached = r.get("random_correct", 0) + r.get("random_incorrect", 0)
        still_prior = (not reached and r["learned_accuracy"] is not None  # the default
                       and abs(r["learned_accuracy"] - ACCURACY_PRIOR) < 5e-4)
        r["learned_assumed"] = bool(r["learned_accuracy"] is not None
                                    and len(r["polarity"]) <= 1
                                    and (summary.get("n_random_gold") == 0 or still_prior))
        e = errs.get(r["name"])
        r["error_example"] = None if e is None else {"item_id": e["example_id"],
                                                     "error": e["example_error"]}
    # switched off (rules too: new-user trial) and applied without: no column, listed
    # so they can be switched on;
    # switched on (uploaded LFs) or enabled (rules) and not applied yet: listed as
    # arriving (fault trial: an LF switched on vanished from the table until then)
    shown = {r["name"] for r in rows}
    later = [(n, "votes" if n in uploaded else "module", False) for n in sorted(off - shown)]
    later += [(n, "votes", True) for n in uploaded_names if n not in shown and n not in off]
    later += [(n, "rule", bool(rec.get("enabled"))) for n, rec in rules.items()
              if n not in shown and n not in uploaded]
    # a module's LF switched back on, while the apply that brings its column is to
    # come (once applied without it, it is no longer in the module)
    if project.get("lf_module") and int(meta.get("rules_version") or 0) < store.rules_version(pid):
        later += [(n, "module", True) for n in project.get("lfs", [])
                  if n not in shown and n not in off and n not in rules and n not in uploaded]
    for name, source, on in later:
        rows.append({"name": name, "source": source, "enabled": on, "leaving": False,
                     "arriving": on, "changing": False, "polarity": [], "coverage": None,
                     "overlaps": None, "conflicts": None, "correct": None, "incorrect": None,
                     "empirical_accuracy": None, "learned_accuracy": None,
                     "learned_assumed": False, "error_example": None})
    return {"lfs": rows, "n_gold": int((y >= 0).sum()), "gold_use": gold_use(summary)}


def _rule_print(rec: dict[str, Any], k: int) -> str | None:
    """The fingerprint of a stored rule (as an apply run records it), or None if
    it does not read as a rule."""
    from loop.core.rules import Rule

    try:
        return Rule.from_dict(rec["rule"], k).fingerprint()
    except (ValueError, KeyError, TypeError):
        return None


#: Random gold the label model needs before it checks how to use it.
GOLD_CHECK_MIN = int(LabelModel().gold_check_min)


def gold_use(summary: dict[str, Any]) -> dict[str, Any]:
    """How the stored label model (its ``summary``) lets in the gold drawn at random
    (answers to exploration picks, uploaded labels): ``n_random_gold`` it was fitted
    with (``fitted``: False before any fit), and what its last check on that gold
    found (``check``, None before :data:`GOLD_CHECK_MIN` of it): the way kept
    (``use``, one of ``LabelModel.GOLD_USES``: ``anchored`` and ``gold`` learn LF
    precisions from it, ``clamp_only`` and ``none`` do not), the held-out rows each
    way predicted right (``correct``) of the ``n`` checked, and whether the gold
    layer and abstentions as evidence are used (``reading``: ``rates`` when every
    vote is read by its LF's firing rates too, the heavier in the blend whose
    ``weights`` of votes, silences and rates the held-out gold chose). The check
    runs again once the random gold has grown by ``recheck_growth``. So a user sees
    that gold which would hurt is not used."""
    check = summary.get("gold_check") or {}
    silent = check.get("abstentions") or {}
    layer = check.get("gold_layer") or {}
    out: dict[str, Any] = {"fitted": bool(summary), "assumed_accuracy": ACCURACY_PRIOR,
                           "n_random_gold": int(summary.get("n_random_gold") or 0),
                           "check_from": GOLD_CHECK_MIN, "recheck_growth": RECHECK_GROWTH,
                           "check": None}
    if check.get("correct"):  # a check ran (now, or kept from an earlier fit)
        out["check"] = {
            "use": check.get("use"), "n": int(check.get("n_random_gold") or 0),
            "correct": {u: int(c) for u, c in check["correct"].items()},
            "learns_precisions": check.get("use") in ("anchored", "gold"),
            "gold_layer": bool(layer.get("used")),
            # its share of each prediction, blended with the model's (1: alone)
            "gold_layer_weight": float(layer.get("weight", 1.0)) if layer.get("used") else 0.0,
            "abstentions": bool(silent.get("used")),
            # how votes and silences are read when they are: "silence" or "rates"
            # (the heavier), and the blend of the readings (None before blends)
            "reading": silent.get("reading", "silence"), "weights": silent.get("weights")}
    return out


#: The newest checks a model's ``recent`` share counts.
RECENT_UNSEEN = 50
#: The curve of the checks on random picks: groups of at least this many checks, at
#: most :data:`UNSEEN_POINTS` groups.
UNSEEN_GROUP = 10
UNSEEN_POINTS = 8


def unseen_curve(checks: list[tuple[int, bool]]) -> list[dict[str, Any]]:
    """Checks ``(gold labels the predicting model had, right)``, sorted by the first,
    as a curve: consecutive groups of at least :data:`UNSEEN_GROUP` checks (at most
    :data:`UNSEEN_POINTS` of them), each ``{n_gold`` (their mean), ``from``, ``to``,
    ``n``, ``right``, ``low``, ``high}`` (95% Wilson interval). A project without
    uploaded labels has no other curve of its models' scores (new-user trial: "Score
    vs gold labels" stayed empty after 42 answers).

    >>> curve = unseen_curve([(0, True)] * 12 + [(30, False)] * 10)
    >>> [(p["n_gold"], p["from"], p["to"], p["n"], p["right"]) for p in curve]
    [(0, 0, 0, 11, 11), (27, 0, 30, 11, 1)]
    """
    groups = min(UNSEEN_POINTS, len(checks) // UNSEEN_GROUP)
    out = []
    for part in np.array_split(np.arange(len(checks)), groups) if groups else []:
        at = [checks[i][0] for i in part]
        right = sum(checks[i][1] for i in part)
        low, high = proportion_interval(right, len(part))
        out.append({"n_gold": int(round(float(np.mean(at)))), "from": min(at), "to": max(at),
                    "n": len(part), "right": right, "low": low, "high": high})
    return out


def unseen_scores(store: RedisStore, pid: str, gold: dict[str, Any]) -> dict[str, Any]:
    """Per model, how often it was right on the exploration answers it had not seen
    when it predicted them (``loop.service.models.check_unseen``), against each
    item's gold label now, over the items whose answer is a random pick now:
    ``n``, ``right``, ``low`` / ``high`` (95% Wilson interval), and ``recent_n`` /
    ``recent_right`` over the :data:`RECENT_UNSEEN` checks of the newest models (the
    whole count lags: early models count too). The label model is checked where an LF
    votes only; the end model's ``covered`` is ``{n, right}`` where an LF voted on the
    item when it was checked, and ``silent`` where none did, so that the two models
    are compared on the same items (``None`` while a check from before the end
    model's noted whether an LF voted has not been given it by a run since)."""
    out: dict[str, Any] = {}
    # answers that are random picks now: an item a ranking drew at random but served
    # as an uncertain pick is not (an operator's trial counted it); an undone random
    # pick is served again as one (undo.lua), so its new answer is
    explored = store.audit_ids(pid)
    for name in MODELS:
        got, voted = [], []
        for iid, v in store.unseen_checks(pid, name).items():
            g = gold.get(iid)
            if v == "-" or g is None or iid not in explored:
                continue
            pred, at, *where = v.split(":")
            got.append((int(at), int(pred) == int(g["label"])))
            voted.append(where[0] == "1" if where else None)
        n, right = len(got), sum(r for _, r in got)
        by_vote: dict[str, Any] = {"covered": None, "silent": None}
        if name == "end_model" and None not in voted:
            for key, want in (("covered", True), ("silent", False)):
                hits = [r for (_, r), v in zip(got, voted, strict=True) if v is want]
                by_vote[key] = {"n": len(hits), "right": sum(hits)}
        got.sort(key=lambda t: t[0])
        recent = [r for _, r in got[-RECENT_UNSEEN:]]
        low, high = proportion_interval(right, n) if n else (None, None)
        out[name] = {"n": n, "right": right, "low": low, "high": high,
                     "recent_n": len(recent), "recent_right": sum(recent),
                     "curve": unseen_curve(got), **by_vote}
    return out


def metrics(store: RedisStore, pid: str) -> dict[str, Any]:
    """Counts, the score-vs-gold history, class balance, agreement and the state of
    the recalibration jobs (last success, last error)."""
    project = store.get_project(pid)
    labels, k = project["labels"], len(project["labels"])
    per_item = store.answers_per_item(pid)
    if per_item == 1:  # one answer an item: counting them is enough
        # (soak trial: decoding every answer took /metrics to 100 ms at 5,000 answers)
        gold, n_answers = store.gold_and_n_answers(pid)
        multi, n_disputed = None, max(0, n_answers - len(gold))
    else:
        gold, answers = store.gold_and_answers(pid)
        multi = fleiss(([a["label"] for a in first_answers(ans, per_item)]
                        for ans in answers.values()), k)
        n_answers = sum(len(a) for a in answers.values())
        n_disputed = sum(1 for i in answers if i not in gold)
    balance = dict.fromkeys(labels, 0)  # the gold the models learn from: answers and
    for g in gold.values():  # uploaded labels not held out (new-user trial: "No labels
        balance[labels[g["label"]]] += 1  # yet" beside 42 uploaded ones)
    for c, n in store.uploaded_gold_counts(pid).items():
        balance[labels[c]] += n
    agreed = store.get_value(pid, "agreement") or {}
    n_eval = store.n_eval(pid)
    return {"n_items": store.n_items(pid), "n_gold": len(gold), "n_eval": n_eval,
            # with k > 1 an item's gold label is made of several answers; a tie is none
            "n_answers": n_answers, "n_disputed": n_disputed,
            "eval_too_small": 0 < n_eval < MIN_EVAL, "min_eval": MIN_EVAL,
            "n_uploaded_gold": store.n_uploaded_gold(pid) - n_eval,
            "remaining": store.pool_size(pid), "queue_size": store.queue_size(pid),
            # exact copies of another item: not asked, not remaining (the export
            # gives a copy of an answered text its answer)
            "n_copies": store.n_copies(pid),
            "class_balance": balance, "history": thinned(store.metrics_history(pid)),
            # the last models' precision, recall and F1 per class on the held-out items
            "held_out_by_class": {
                **{m: (store.model_summary(pid, m) or {}).get("held_out")
                   for m in ("label_model", "end_model")},
                # the end model where an LF votes: the label model's items
                "end_model_covered": (store.model_summary(pid, "end_model") or {}).get(
                    "held_out_covered")},
            "agreement": agreed.get("agreement"), "n_agreement": agreed.get("n_covered"),
            "answers_per_item": per_item,
            "annotator_agreement": multi,
            "unseen": unseen_scores(store, pid, gold),
            "n_items_multi": 0 if multi is None else multi["n_items_multi"],
            "last_recalibrated_at": store.get_value(pid, "last_recalibrated_at"),
            "since_recalibration": store.since_recal(pid),
            "recalibration": _status(store, pid, "recal_status", "recal"),
            "end_model_training": {
                **_status(store, pid, "end_model_status", "end_model"),
                # the gold the end model (the export's labels, the queue's ranking)
                # was trained on: a retrain that fails leaves it behind
                "n_gold": (store.model_summary(pid, "end_model") or {}).get("n_gold")},
            # the last apply run's outcome: a recalibration that waits for LF votes
            # waits for it (operator's trial: a failed run read as busy workers)
            "apply_lfs": _outcome(store, pid, "apply_status"),
            "loop": loop_health(store, pid)}


#: Most score points ``/metrics`` returns (:func:`thinned`).
MAX_POINTS = 1000
#: Of which the newest, all kept.
RECENT_POINTS = 200


def thinned(hist: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The score history with at most :data:`MAX_POINTS` points: the newest
    :data:`RECENT_POINTS`, and the older ones evenly spaced (a soak trial's project
    gained a point every 4 answers: /metrics would carry 3 MB of them after a day,
    for a chart a few hundred pixels wide).

    >>> [p["n_gold"] for p in thinned([{"n_gold": i} for i in range(10)])][:3]
    [0, 1, 2]
    >>> len(thinned([{"n_gold": i} for i in range(5000)]))
    1000
    """
    if len(hist) <= MAX_POINTS:
        return hist
    old, recent = hist[:-RECENT_POINTS], hist[-RECENT_POINTS:]
    keep = MAX_POINTS - RECENT_POINTS
    picks = sorted({round(i * (len(old) - 1) / (keep - 1)) for i in range(keep)})
    return [old[i] for i in picks] + recent


#: A recalibration asked for this many seconds ago and not run is overdue.
OVERDUE_AFTER = 60.0


def loop_health(store: RedisStore, pid: str) -> dict[str, Any]:
    """Is the loop closing? ``workers`` alive, since when a recalibration has been
    waiting (``waiting_since``, None when none is), and ``overdue``: it has waited
    more than :data:`OVERDUE_AFTER` s and none is running (no worker, or every
    worker busy with other jobs). Answers are never lost meanwhile; they are
    recalibrated once a worker takes the job."""
    from loop.service.worker import alive_workers

    since = store.recal_requested_at(pid)
    if since is not None and since > time.time():
        since = None  # set for later (the time rule's run): nothing waits yet
    waited = None if since is None else max(0.0, time.time() - since)
    return {"workers": alive_workers(store.r), "waiting_since": since,
            "overdue": bool(waited is not None and waited > OVERDUE_AFTER
                            and not store.lock_holder_alive(pid, "recal"))}


def _status(store: RedisStore, pid: str, value: str, lock: str) -> dict[str, Any]:
    # a lock whose holder stopped extending it (killed) is no run: it only runs out
    return {"running": store.lock_holder_alive(pid, lock), **_outcome(store, pid, value)}


def _outcome(store: RedisStore, pid: str, value: str) -> dict[str, Any]:
    """When a step last ended well, and its last error (kept by ``record_failure``):
    how many runs in a row failed, and from when the service asks for one again by
    itself where one is owed."""
    st = store.get_value(pid, value) or {}
    err = st.get("error")
    return {"last_ok_at": st.get("ok_at"),
            "last_error": None if err is None else {
                "at": err["at"], "message": err["message"],
                "n_failures": int(err.get("n_failures", 1)), "retry_at": retry_at(err)}}


def summary(store: RedisStore, pid: str) -> dict[str, Any]:
    """A project's line on the home page: counts, latest scores, last recalibration."""
    project = store.get_project(pid)
    hist = store.metrics_history(pid, last=100)  # the latest scores are among them
    gold, n_answers = store.gold_and_n_answers(pid)

    def latest(key: str) -> Any:  # a retrain's own point has no label-model score
        return next((h[key] for h in reversed(hist) if h.get(key) is not None), None)

    return {"id": pid, "name": project["name"], "labels": project["labels"],
            "created_at": project.get("created_at"), "n_items": store.n_items(pid),
            "n_gold": len(gold), "answers_per_item": store.answers_per_item(pid),
            "unseen": unseen_scores(store, pid, gold),
            "n_answers": n_answers, "remaining": store.pool_size(pid),
            "queue_size": store.queue_size(pid), "n_eval": store.n_eval(pid),
            "eval_too_small": 0 < store.n_eval(pid) < MIN_EVAL,
            "label_model": latest("label_model"), "end_model": latest("end_model"),
            # the label model is scored where an LF votes (see State.eval_covered)
            "n_eval_covered": latest("n_eval_covered"),
            "last_recalibrated_at": store.get_value(pid, "last_recalibrated_at"),
            "lfs_applied": bool(store.L_meta(pid))}


def first_answers(ans: list[dict[str, Any]], per_item: int) -> list[dict[str, Any]]:
    """The answers of one item that agreement is read on: its first ``per_item``,
    which every item gets whatever they say. A tie-break answer is asked only where
    those disagree: counted, it read each tie as 1/3 agreement and added a
    disagreement to every pair with the tie-breaker (team lead's trial: the dashboard
    said 80.5%, the annotators page 62-65%, the first two answers agreed on 71%).
    The stored list is in the order the answers were given (an undone or discarded
    one leaves it, a changed one keeps its place)."""
    return ans[:per_item]


def annotator_pairs(store: RedisStore, pid: str) -> list[dict[str, Any]]:
    """Each pair of annotators among the first answers of some items both
    (:func:`first_answers`): agreement, Cohen's kappa and the confusion of their
    labels there (:func:`loop.agreement.pairs`)."""
    k = len(store.get_project(pid)["labels"])
    per_item = store.answers_per_item(pid)
    return pairs(([(a["annotator"], a["label"]) for a in first_answers(ans, per_item)]
                  for ans in store.answers(pid).values()), k)


def annotators(store: RedisStore, pid: str) -> list[dict[str, Any]]:
    """Each annotator's progress: answers today / total, agreement with the other
    annotators on shared items (k > 1), and with the label model's guess. Answers
    given with an admin key are listed last, as ``admin`` (``"role": "admin"``),
    when there are any."""
    project = store.get_project(pid)
    k = len(project["labels"])
    per_item = store.answers_per_item(pid)
    lm = store.load_proba(pid, "label_model", k)
    answers = store.answers(pid)
    rows = dict(zip(answers, store.rows_of(pid, list(answers)).tolist(), strict=True))
    who = [{**a, "role": "annotator"} for a in store.annotators(pid)]
    who.append({"name": "admin", "created_at": None, "role": "admin"})
    out = []
    for a in who:
        name = a["name"]
        st = store.annotator_stats(pid, name, 0)
        if a["role"] == "admin" and not st["answers_total"]:
            continue  # no answers given with an admin key
        with_others = same_others = with_model = same_model = 0
        times = []
        for iid, ans in answers.items():
            mine = next((x for x in ans if x["annotator"] == name), None)
            if mine is None:
                continue
            times.append(float(mine["at"]))
            first = first_answers(ans, per_item)  # a tie-break is compared with nobody
            others = [x["label"] for x in first if x["annotator"] != name] \
                if any(x is mine for x in first) else []
            with_others += len(others)
            same_others += sum(1 for o in others if o == mine["label"])
            r = rows.get(iid, -1)
            if lm is not None and 0 <= r < len(lm):
                with_model += 1
                same_model += int(int(np.argmax(lm[r])) == mine["label"])
        out.append({**a, "answers_total": st["answers_total"],
                    "answers_today": st["answers_today"],
                    "agreement_with_others": same_others / with_others if with_others else None,
                    "n_compared_with_others": with_others,
                    "agreement_with_model": same_model / with_model if with_model else None,
                    "n_compared_with_model": with_model,
                    "seconds_per_answer": pace(times)})
    return out


#: Longer than this between two answers is a break, not time spent on an item.
PACE_BREAK_SECONDS = 600.0


def pace(times: list[float]) -> float | None:
    """Median seconds between one's consecutive answers, breaks (gaps over
    :data:`PACE_BREAK_SECONDS`) left out; None with fewer than 2 answers in a row."""
    t = np.sort(np.asarray(times, dtype=np.float64))
    gaps = np.diff(t)
    gaps = gaps[gaps <= PACE_BREAK_SECONDS]
    return round(float(np.median(gaps)), 1) if gaps.size else None
