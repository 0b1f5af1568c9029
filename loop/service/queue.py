"""The expert queue as annotators use it: next, answer, skip, undo, change an answer."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from loop.core.text import alike
from loop.errors import (
    AlreadyAnswered,
    AnswersChanged,
    BadRequest,
    Conflict,
    ItemNotFound,
    LeaseConflict,
    NotFound,
    UnknownLabel,
    shorten,
)
from loop.storage import RedisStore
from loop.storage.projects import token_expired

#: Most item ids a client may list as already on screen (``shown``).
MAX_SHOWN = 20
#: Most earlier answers ``/queue/me`` lists (``history``).
MAX_HISTORY = 500


def parse_label(labels: list[str], label: Any) -> int:
    """A label given by name or index -> its index. A name in another case, or with
    spaces around it, is the label's (as in uploads: a project's labels never
    differ only in case).

    >>> parse_label(["ham", "spam"], " SPAM"), parse_label(["ham", "spam"], 0)
    (1, 0)
    """
    if label is None:
        raise UnknownLabel(f"label missing: send one of {json.dumps(labels)} (or its index "
                           "from 0)")
    if isinstance(label, str):
        if label in labels:
            return labels.index(label)
        same = alike(label.strip(), labels)
        if same is not None:
            return labels.index(same)
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(labels):
        return label
    shown = shorten(json.dumps(label, default=repr))  # as it was sent: true, not True
    raise UnknownLabel(f"unknown label {shown}; labels are {json.dumps(labels)} (or their "
                       f"index from 0 to {len(labels) - 1})")


def _guess(proba: dict[str, np.ndarray | None], labels: list[str]) -> dict[str, Any] | None:
    for name in ("end_model", "label_model"):
        p = proba.get(name)
        if p is not None and np.isfinite(p).all():
            c = int(np.argmax(p))
            return {"label": labels[c], "confidence": float(p[c]), "source": name}
    return None


#: Below this top-class probability the models count as unsure of an item.
SURE = 0.75


def _reason_now(reason: str | None, guess: dict[str, Any] | None,
                lm_guess: dict[str, Any] | None) -> str:
    """Why an item is asked, told from the models as they are now (``guess``: the
    models' guess, :func:`_guess`; ``lm_guess``: the label model's own). The
    ranking's ``model_uncertain`` (its LFs agree) was shown beside an end model 92%
    sure of the item (new-user trial): the models had learnt since, or the item was
    picked for its vote pattern. Now: ``models_disagree`` (the two models' guesses
    differ), ``model_uncertain`` (the guess is below :data:`SURE`), else
    ``pattern_check`` (few answers yet on the items its LFs' votes cover)."""
    if reason not in (None, "", "model_uncertain"):
        return str(reason)
    if guess is not None and lm_guess is not None and guess["label"] != lm_guess["label"]:
        return "models_disagree"
    if guess is None or guess["confidence"] < SURE:
        return "model_uncertain"
    return "pattern_check"


def _ids(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_SHOWN:
        raise BadRequest(f"{name} must be a list of at most {MAX_SHOWN} item ids")
    if not all(isinstance(x, str) for x in value):
        raise BadRequest(f"{name} must hold item ids as strings (as /queue/next returns "
                         f"them), got {shorten(json.dumps(value, default=repr))}")
    return value


#: Longest page id a ``/next`` or a release names.
MAX_PAGE = 64


def _page(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PAGE:
        raise BadRequest(f"page must be a string of 1 to {MAX_PAGE} characters (an id "
                         "the page chose: its release names the leases it asked for)")
    return value


def lease_item(store: RedisStore, pid: str, annotator: str, lease_seconds: float,
               shown: Any = None, token: str = "", page: Any = None
               ) -> tuple[dict[str, Any] | None, int]:
    """Lease the next item for ``annotator``: ``(response, queue length left)``.

    A lease they already hold comes back first (a reload, a second tab), except
    items listed in ``shown`` (what the page already has). When the ranked queue
    has nothing for them, a random unlabeled item is leased; items they skipped
    come back only when nothing else is left. None when nothing is left at all.
    One Redis round trip (``lua/lease.lua``). With ``answers_per_item`` > 1 an
    item someone has answered comes without the models' guess (``guess_hidden``),
    so that each answer stays independent of the others; in a ``blind`` project
    every item comes without the guess and without the LF votes. LF votes uploaded
    with the items are never shown. ``page``: the asking page's id, kept with the
    lease, so that the page's release finds it (:func:`release`).
    """
    project = store.get_project(pid)
    labels = project["labels"]
    got = store.lease_next_full(pid, annotator, lease_seconds, len(labels),
                                shown=_ids(shown, "shown"), token=token, page=_page(page))
    if got is None:
        return None, 0
    item = got["item"] or {"text": None, "fields": {}}
    row, L_row = got["row"], got["L_row"]
    votes: list[dict[str, Any]] = []
    hidden_votes = 0
    if row is not None and L_row is not None:
        meta = store.L_meta_cached(pid, got["L_version"])
        names = meta.get("lf_names", [])
        # not the votes uploaded with the items: nameless columns, and often other
        # people's answers (crowd workers) that an answer should not lean on
        uploaded = set(meta.get("uploaded", ()))
        for n, v in zip(names, L_row, strict=False):
            if not 0 <= v < len(labels):
                continue
            if n in uploaded:  # counted, unshown: else the page says "no LF fired"
                hidden_votes += 1  # beside the badge "LFs conflict" (re-trial)
            else:
                votes.append({"lf": n, "label": labels[int(v)]})
    # With several answers per item the models have learnt an answered item's
    # answer: their guess would show the next annotators what the first one said
    # (operator's trial: 811 of 811 such guesses were the majority so far)
    blind = bool(project.get("blind", False))
    hidden = blind or (got["answered"] and int(project.get("answers_per_item", 1)) > 1)
    guess = lm_guess = None
    if row is not None and not hidden:
        guess = _guess(got["proba"], labels)
        lm_guess = _guess({"label_model": got["proba"].get("label_model")}, labels)
    out = {
        "item": {"id": got["item_id"], "text": item["text"], "fields": item["fields"],
                 # the columns in the file's order, as "fields" also comes now, for
                 # readers that sort JSON objects (trial: when Flask sorted them, a
                 # file's subject, from, date read date, from, subject)
                 "field_order": list(item["fields"]),
                 "votes": [] if blind else votes,
                 # votes of uploaded LFs on it, never shown (see above)
                 "uploaded_votes": 0 if blind else hidden_votes,
                 "guess": guess,
                 # the label model's own guess: "models disagree" names it
                 "label_model_guess": lm_guess,
                 "guess_hidden": hidden, "blind": blind,
                 # with the guess hidden, so is what the models say now
                 "reason": _reason(store, pid, got, blind, hidden, guess, lm_guess)},
        "lease": {"id": got["lease_id"], "expires_at": got["expires_at"]},
        "remaining": got["remaining"],
    }
    return out, got["queue_size"]


def _reason(store: RedisStore, pid: str, got: dict[str, Any], blind: bool, hidden: bool,
            guess: Any, lm_guess: Any) -> str | None:
    """Why the item is asked: none in a blind project; an answered item asked again
    (several answers per item) because its answers tie (``tie_break``) or it wants
    more (``more_answers``; team lead's trial: such items came as "model uncertain"
    or "random pick", which they were not); with the guess hidden, the ranking's
    reason as it was; else as the models read the item now."""
    if blind:
        return None
    if hidden and got["answered"]:
        return "more_answers" if store.has_gold(pid, got["item_id"]) else "tie_break"
    if hidden:
        return str(got["reason"] or "model_uncertain")
    return _reason_now(got["reason"], guess, lm_guess)


def _strings(item_id: Any, lease_id: Any) -> None:
    missing = [k for k, v in (("item_id", item_id), ("lease_id", lease_id)) if v is None]
    if missing:  # a new user's first answer left the lease out: say so, not "types"
        raise BadRequest(f"{' and '.join(missing)} missing: send item_id and lease_id "
                         "as /queue/next returned them (item.id, lease.id)")
    if not isinstance(item_id, str) or not isinstance(lease_id, str):
        raise BadRequest("item_id and lease_id must be strings")


def answer(store: RedisStore, pid: str, annotator: str, item_id: Any, label: Any,
           lease_id: Any, token: str = "") -> dict[str, Any]:
    """Store a gold label once; ``since_recal`` counts answers since the last
    recalibration (a duplicate's too: its first send may not have asked for one).
    One Redis round trip (``lua/answer.lua``). The same answer again is a
    ``duplicate``; another label on the same lease is a 409 that points to
    :func:`relabel`."""
    project = store.get_project(pid)
    _strings(item_id, lease_id)
    c = parse_label(project["labels"], label)
    try:
        duplicate, since = store.store_answer(pid, annotator, item_id, c, lease_id, token)
    except AlreadyAnswered as e:
        labels = project["labels"]
        raise AlreadyAnswered(
            f"you already answered item {item_id!r} as {labels[e.label]!r}; to change it, "
            f"POST /api/projects/{pid}/queue/relabel {{\"item_id\", \"label\"}}",
            e.label) from None
    return {"stored": True, "duplicate": duplicate, "since_recal": since}


def skip(store: RedisStore, pid: str, annotator: str, item_id: Any, lease_id: Any,
         token: str = "") -> dict[str, Any]:
    """Give the item back: other annotators get it first; this one gets it again
    only when nothing else is left for them."""
    store.get_project(pid)
    _strings(item_id, lease_id)
    # sent again (a retry after a lost reply): the same answer, duplicate as an answer's
    return {"skipped": True,
            "duplicate": store.skip(pid, annotator, item_id, lease_id, token)}


#: Leases one release gives back, or one renewal extends, at most (a page holds 21
#: at most: ``/next``'s ``shown`` list and one more).
MAX_RELEASE = 21


def _leases(leases: Any, low: int) -> list[dict[str, str]]:
    """``[{item_id, lease_id}, ...]`` as a release or a renewal takes it (``low`` to
    :data:`MAX_RELEASE` of them), or :class:`BadRequest` saying what is wrong."""
    if not isinstance(leases, list) or len(leases) < low or len(leases) > MAX_RELEASE:
        raise BadRequest(f"leases must be a list of {low} to {MAX_RELEASE} objects "
                         "{item_id, lease_id} as /queue/next returned them")
    if not all(isinstance(x, dict) for x in leases):
        raise BadRequest("each lease must be an object {item_id, lease_id}")
    for x in leases:
        extra = sorted(set(x) - {"item_id", "lease_id"})
        if extra:  # re-trial: {item_id, lease_id, label} released the item, the
            # label dropped unsaid; a key a request does not take is a 400 (README, API)
            raise BadRequest(f"unknown key{'s' if len(extra) > 1 else ''} "
                             f"{', '.join(map(repr, extra))} in a lease; each lease "
                             "takes item_id and lease_id")
        _strings(x.get("item_id"), x.get("lease_id"))
    return leases


def release(store: RedisStore, pid: str, annotator: str, leases: Any,
            token: str = "", page: Any = None, shown: Any = None) -> dict[str, Any]:
    """Give back leases ``[{item_id, lease_id}, ...]`` a closed page held, unanswered
    and not marked skipped: the items go back to the queue now, not when the leases
    expire (new-user trial: items a closed tab held were "open on someone's screen"
    for minutes). A lease this annotator no longer holds (answered, expired, taken
    by another) is left as it is: ``released`` and ``not_held`` list the item ids.
    ``page``: the page's id, as its ``/next`` requests sent it: the leases this
    annotator holds that it asked for last go back too (re-trial: a tab closed right
    after an answer key left the item its prefetch was leasing, whose reply it never
    read, held for ``LEASE_SECONDS``), except items in ``shown`` (as ``/next``'s:
    the page's, an answer to one may be on its way); ``leases`` may then be empty."""
    store.get_project(pid)
    page, keep = _page(page), set(_ids(shown, "shown"))
    leases = _leases(leases, 0 if page else 1)
    out: dict[str, list[str]] = {"released": [], "not_held": []}
    named = keep | {x["item_id"] for x in leases}
    leases = [*leases, *({"item_id": i, "lease_id": lid}
                         for i, lid in store.page_leases(pid, annotator, page) if i not in named)]
    for x in leases:
        try:
            store.skip(pid, annotator, x["item_id"], x["lease_id"], token, release=True)
            out["released"].append(x["item_id"])
        except LeaseConflict:
            out["not_held"].append(x["item_id"])
    return out


def renew(store: RedisStore, pid: str, annotator: str, leases: Any, lease_seconds: float,
          token: str = "") -> dict[str, Any]:
    """Extend leases ``[{item_id, lease_id}, ...]`` (1 to :data:`MAX_RELEASE`) the
    annotator's page holds to ``lease_seconds`` from now, as the labeling page does
    while its annotator is there (an expert reading a long item past the lease had
    their answer refused once another annotator was given the item). ``renewed``:
    ``[{item_id, expires_at}]``; ``not_renewed``: ``[{item_id, reason}]``, the reason
    ``expired`` (not brought back, even if nobody took the item since), ``answered``
    (by this annotator), ``settled`` (it needs no more answers), ``taken`` (leased to
    another annotator now) or ``not_held`` (released, skipped, replaced by a newer
    lease of theirs, or never theirs). One Redis round trip (``lua/renew.lua``): only
    leases live at that moment are extended, so a renewal never makes a token hold
    more than ``/next`` leased it."""
    store.get_project(pid)
    got = store.renew_leases(pid, annotator,
                             [(x["item_id"], x["lease_id"]) for x in _leases(leases, 1)],
                             lease_seconds, token)
    return {"renewed": [{"item_id": i, "expires_at": w} for i, w in got
                        if isinstance(w, float)],
            "not_renewed": [{"item_id": i, "reason": w} for i, w in got if isinstance(w, str)],
            "lease_seconds": lease_seconds}


def undo(store: RedisStore, pid: str, annotator: str, token: str = "",
         item_id: Any = None, hold_seconds: float = 0.0) -> dict[str, Any]:
    """Take back this annotator's last answer: ``{"item_id", "undone": true,
    "item_status", "other_answers", "answers_needed"}``, what became of the item
    (``queued``: back in the queue; ``leased``: another annotator has it on screen,
    back in the queue if they leave it; ``settled``: the other answers give it its
    label; ``resolved``: the admin's label stands), the answers of others it keeps
    and how many more it needs (team lead's trial: the labeling page said "it went
    back to the queue" of an item another annotator held).

    ``hold_seconds``: an item back in the queue is leased to this annotator for that
    long, ``"lease": {"id", "expires_at"}`` in the reply, and their next ``/next``
    serves it (team session: unleased on top of the queue, another annotator's page
    took it in the moment before the undoer's asked for it again).

    ``item_id``: only if the last answer is to that item. Sent again (a retry after
    a timeout or a 503, when the first may have been applied), it is
    ``{"item_id", "undone": false}`` and takes nothing more back (operator's trial:
    the retry of an undo that had been applied took back a second answer). An item
    the annotator has no answer to (and did not just undo) is a 409, as another
    item's is (new-user trial: it read as a retry that had been applied)."""
    store.get_project(pid)
    if item_id is not None and (not isinstance(item_id, str) or not item_id):
        raise BadRequest("item_id must be the id (a string) of the item whose answer to undo")
    out = store.undo(pid, annotator, token, item_id or "", hold_seconds)
    if out is None:
        raise BadRequest("nothing to undo: you have no answer in this project left to take "
                         "back (GET /queue/me lists your answers)")
    if out.outcome == "undone":
        what, n_other = out.status, out.other_answers
        k = store.answers_per_item(pid)
        reply = {"item_id": out.item_id, "undone": True, "item_status": what,
                 "other_answers": n_other,
                 "answers_needed": 0 if what in ("settled", "resolved") else max(k - n_other, 1)}
        if out.lease_id:
            reply["lease"] = {"id": out.lease_id, "expires_at": out.expires_at}
        return reply
    why, other = out.outcome, out.item_id
    if why == "gone":
        return {"item_id": other, "undone": False}
    if why == "unknown":
        raise ItemNotFound(f"no item {shorten(other)!r} in this project")
    if why == "not_yours":  # answered by another, an uploaded label, or never
        raise Conflict(f"you have no answer to item {shorten(other)!r} to undo: only "
                       "your own last answer is undone")
    raise Conflict(f"your last answer is to item {other!r}, not {item_id!r}: only the "
                   "last answer is undone (to change an earlier one, POST "
                   f"/api/projects/{pid}/queue/relabel)")


def relabel(store: RedisStore, pid: str, annotator: str, item_id: Any, label: Any,
            token: str = "") -> dict[str, Any]:
    """Change this annotator's earlier answer to ``item_id``."""
    project = store.get_project(pid)
    if item_id is None:
        raise BadRequest('item_id missing: send {"item_id": ..., "label": ...} for an item '
                         "you answered")
    if not isinstance(item_id, str):
        raise BadRequest("item_id must be a string")
    c = parse_label(project["labels"], label)
    out = store.relabel(pid, annotator, item_id, c, token)
    if out is None:
        raise NotFound(f"you have no answer to item {item_id!r}" + (
            "; to settle the label of an item others answered, POST "
            f"/api/projects/{pid}/resolve {{\"item_id\", \"label\"}}"
            if annotator == "admin" else ""))
    return {"item_id": item_id, "label": project["labels"][c], "changed": out == "changed"}


def _answers_out(ans: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    return [{"annotator": a["annotator"], "label": labels[int(a["label"])], "at": a["at"],
             **({"changed_at": a["changed_at"]} if "changed_at" in a else {})} for a in ans]


def tie_waits(store: RedisStore, pid: str, ties: dict[str, list[dict[str, Any]]],
              k: int) -> dict[str, str]:
    """What each tied item (id -> its answers) waits for: ``"admin"`` after k + 1
    answers, or once every annotator whose token works has answered it or skipped
    it (new-user trial: two annotators tied, and the item waited for a third who does
    not exist; team lead's trial: for one who skipped it at every turn, and for one
    whose token had expired), else ``"answer"``."""
    can_answer = [a["name"] for a in store.annotators(pid)
                  if not a.get("revoked_at") and not token_expired(a)]
    skipped = store.skipped_by(pid, can_answer, list(ties))
    out = {}
    for iid, ans in ties.items():
        left = {a for a in can_answer if iid not in skipped[a]} - {x["annotator"] for x in ans}
        out[iid] = "admin" if len(ans) > k or not left else "answer"
    return out


def disputes(store: RedisStore, pid: str) -> dict[str, Any]:
    """With ``answers_per_item`` > 1: the answered items whose answers tie (no gold
    label; they wait for one more answer, after k + 1, or once every annotator whose
    token works has answered, for the admin), and the items the admin resolved,
    with every answer."""
    project = store.get_project(pid)
    labels = project["labels"]
    open_ = store.disputes(pid)
    done = store.resolutions(pid)
    ids = [*open_, *done]
    texts = {i["id"]: i["text"] for i in store.items(pid, ids)}
    answers = dict(zip(done, store.answers_of(pid, list(done)), strict=True))
    k = store.answers_per_item(pid)
    waits = tie_waits(store, pid, open_, k)
    return {
        "answers_per_item": k,
        "disputes": [{"item_id": iid, "text": texts.get(iid), "waiting_for": waits[iid],
                      "answers": _answers_out(ans, labels)}
                     for iid, ans in sorted(open_.items(), key=lambda x: x[1][-1]["at"])],
        "resolved": [{"item_id": iid, "text": texts.get(iid), "label": labels[int(r["label"])],
                      "by": r["annotator"], "at": r["at"],
                      "answers": _answers_out(answers[iid], labels)}
                     for iid, r in sorted(done.items(), key=lambda x: x[1]["at"])],
    }


def resolve(store: RedisStore, pid: str, item_id: Any, label: Any, by: str,
            if_answers: Any = None) -> dict[str, Any]:
    """The admin settles answered item ``item_id`` as ``label`` (its gold label from
    now on, whatever its answers); ``label`` null takes a resolution back.
    ``if_answers`` (``{annotator: label}``, the answers the admin read): only if the
    item's answers are still those, else :class:`AnswersChanged` and nothing done."""
    project = store.get_project(pid)
    if not isinstance(item_id, str):
        raise BadRequest("item_id must be a string: the id of an answered item")
    c = None if label is None else parse_label(project["labels"], label)
    seen = None
    if if_answers is not None:
        if not isinstance(if_answers, dict) or not all(isinstance(a, str) for a in if_answers):
            raise BadRequest("if_answers must be the answers you read, {annotator: label}")
        seen = {a: parse_label(project["labels"], v) for a, v in if_answers.items()}
    out = store.resolve(pid, item_id, c, by, seen)
    if out == "changed" and store.rows_of(pid, [item_id])[0] < 0:
        # data scientist's trial: an id of no item, sent with if_answers, was a 409
        # "had an answer changed or taken back", to be read again
        raise ItemNotFound(f"no item {shorten(item_id)!r} in this project")
    if out == "changed":
        now = store.answers_of(pid, [item_id])[0]  # (not every item's: O(answered items))
        said = ", ".join(f"{a['annotator']}: {project['labels'][int(a['label'])]}" for a in now)
        how = ("was answered again" if len(now) > len(seen or {}) else
               "had an answer changed or taken back")
        raise AnswersChanged(f"item {item_id!r} {how} after you read its answers "
                             f"(now {said or 'none'}); nothing was settled: read them again "
                             "and settle it if it still needs you")
    if out is None:
        raise NotFound(f"item {item_id!r} has no answers to resolve (a resolution settles "
                       "what annotators answered; GET /disputes lists the ties)")
    return {"item_id": item_id, "label": None if c is None else project["labels"][c],
            "resolved": out == "resolved"}


def me(store: RedisStore, pid: str, annotator: str, n_history: int = 20,
       done: bool = False) -> dict[str, Any]:
    """This annotator's counts, their last answers (with labels), how many items
    still need answers, how many of them tie (``disputed``) and how many items are
    leased now (``leased``). ``done`` (the labeling page when nothing is left for
    the annotator) adds how many ties wait for the admin (``disputed_for_admin``)
    and how many leased items the annotator has not answered (``leased_for_you``:
    those may come back to them)."""
    project = store.get_project(pid)
    labels = project["labels"]
    stats = store.annotator_stats(pid, annotator, n_history)
    disputed = store.n_disputed(pid)
    remaining = store.pool_size(pid)
    ids = stats["history"]
    answers = store.answers_of(pid, ids)
    items = {i["id"]: i for i in store.items(pid, ids)}
    recent = []
    for iid, ans in zip(ids, answers, strict=True):
        mine = next((a for a in ans if a["annotator"] == annotator), None)
        if mine is None:
            continue
        text = (items.get(iid) or {}).get("text") or ""
        recent.append({"item_id": iid, "label": labels[int(mine["label"])], "at": mine["at"],
                       "text": text[:300]})
    return {"answers_total": stats["answers_total"], "answers_today": stats["answers_today"],
            "history": ids, "recent": recent, "remaining": remaining,
            # of them, those someone holds now (new-user trial: "All done ... 2 items
            # still need answers from others" were the leases of a closed tab)
            "leased": store.n_leased(pid),
            # of them, those whose answers disagree: a tie waits for one more answer
            # or an admin's resolution (it read as if nobody had answered it)
            "disputed": disputed,
            **(_done_detail(store, pid, annotator, disputed, remaining) if done else {}),
            "queue_size": store.queue_size(pid)}


def _done_detail(store: RedisStore, pid: str, annotator: str, disputed: int,
                 remaining: int) -> dict[str, int]:
    """For an annotator with nothing left: the ties that wait for the admin, how many
    of the ``remaining`` items wait for an annotator's answer instead (a tie after
    k + 1 answers needs no more and is not among them, while one that every
    annotator answered is: team lead's trial, the page took the first kind off the
    remaining too, and said nothing of an item that still needed an answer), the
    leased items they have not answered (team lead's trial: "1 item is open on
    someone's screen ... look in again later" was an item they had answered), and
    how many items the project has (none imported yet read "Every item has its
    answers": new-user trial, a sign-in link sent before the data)."""
    leased = store.live_lease_ids(pid)
    mine = store.answered_among(pid, annotator, leased)
    ties = store.disputes(pid) if disputed else {}
    k = store.answers_per_item(pid)
    waits = tie_waits(store, pid, ties, k) if ties else {}
    admin_remaining = sum(w == "admin" and len(ties[i]) <= k for i, w in waits.items())
    return {"disputed_for_admin": sum(w == "admin" for w in waits.values()),
            "waiting_for_others": max(0, remaining - admin_remaining),
            "leased_for_you": len([i for i in leased if i not in mine]),
            "n_items": store.n_items(pid)}
