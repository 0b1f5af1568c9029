"""Expert queue: leases, expiry, double submission, concurrency, skip, undo,
relabel, reloads, the pool fallback, export."""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pytest
from svc_helpers import annotator_token, auth, lease_concurrently, prepare_project

from loop.errors import LeaseConflict, UnknownLabel
from loop.service import models, queue

N_QUEUEABLE = 350 - 105  # the first YouTube CSV, 30% of its CLASS held out


@pytest.fixture
def ready(store, client, project):
    """A project with items, L, a label model and a queue of 30 (built in-process)."""
    return prepare_project(store, client, project)


#: what an undo says of an item nobody else answered or holds, one answer an item
QUEUED = {"item_status": "queued", "other_answers": 0, "answers_needed": 1}


def _held(reply: dict) -> dict:
    """An undo's reply without the lease that holds the item for the undoer (checked)."""
    lease = reply["lease"]
    assert set(lease) == {"id", "expires_at"} and lease["expires_at"] > time.time()
    return {k: v for k, v in reply.items() if k != "lease"}


def _next(client, pid, token, shown=None):
    r = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token),
                    json={} if shown is None else {"shown": shown})
    return None if r.status_code == 204 else r.json


def _answer(client, pid, token, got, label="ham"):
    return client.post(f"/api/projects/{pid}/queue/answer", headers=auth(token), json={
        "item_id": got["item"]["id"], "label": label, "lease_id": got["lease"]["id"]})


def _skip(client, pid, token, got):
    return client.post(f"/api/projects/{pid}/queue/skip", headers=auth(token), json={
        "item_id": got["item"]["id"], "lease_id": got["lease"]["id"]})


def _few_items_ready(client, store, pid, texts):
    """Project ``pid`` with ``texts`` uploaded, its LFs applied and a label model and
    queue fitted (in-process)."""
    from svc_helpers import apply_lfs_in_process

    csv = "".join(f"{t}\n" for t in ["CONTENT", *texts]).encode()
    client.post(f"/api/projects/{pid}/items", data=csv,
                headers={**auth(), "Content-Type": "text/csv"})
    apply_lfs_in_process(store, pid)
    models.recalibrate(store, pid, 10)


def test_next_answer_and_me(client, ready):
    tok = annotator_token(client, ready, "alice")
    got = _next(client, ready, tok)
    item = got["item"]
    assert item["reason"] in ("lfs_conflict", "no_lf_fired", "model_uncertain", "exploration",
                              "models_disagree", "pattern_check")
    assert {"id", "text", "fields", "votes", "guess"} <= set(item)
    assert item["guess"]["label"] in ("ham", "spam")
    r = _answer(client, ready, tok, got, "spam")
    assert r.status_code == 200 and r.json == {"stored": True, "duplicate": False}
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert me["answers_total"] == 1 and me["answers_today"] == 1
    assert me["history"] == [item["id"]]
    assert me["recent"][0]["item_id"] == item["id"] and me["recent"][0]["label"] == "spam"
    assert me["remaining"] == N_QUEUEABLE - 1  # unlabeled items, not the queue length


def test_a_ranking_leaves_out_items_answered_or_leased_since_its_state_was_read(
        client, store, ready):
    """Operator trial: after answers raced a recalibration, answered items were back
    in the ranked queue (leasing skipped them, but the queue's length counted them)."""
    from loop.service.state import State

    st = State(store, ready)  # a recalibration reads the state ...
    ranked = store.queued_ids(ready)
    tok = annotator_token(client, ready, "racer")
    answered = _next(client, ready, tok)  # ... answers and leases come in meanwhile ...
    assert _answer(client, ready, tok, answered, "spam").status_code == 200
    leased = _next(client, ready, tok)
    ranking = [(iid, float(len(ranked) - i), "model_uncertain") for i, iid in enumerate(ranked)]
    assert store.replace_queue(ready, ranking, st.version + 2)  # ... and it publishes
    queued = set(store.queued_ids(ready))
    assert answered["item"]["id"] not in queued and leased["item"]["id"] not in queued
    assert len(queued) == len(ranked) - 2


def test_double_submission_is_stored_once(client, store, ready):
    tok = annotator_token(client, ready, "bob")
    got = _next(client, ready, tok)
    r1, r2 = _answer(client, ready, tok, got), _answer(client, ready, tok, got)
    assert r1.json["duplicate"] is False and r2.json["duplicate"] is True
    assert len(store.gold(ready)) == 1
    assert [e["event"] for e in store.answer_log(ready)] == ["answer"]
    assert client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json[
        "answers_total"] == 1


def test_another_label_on_an_answered_lease_is_a_409_that_points_to_relabel(
        client, store, ready):
    tok = annotator_token(client, ready, "dora")
    got = _next(client, ready, tok)
    assert _answer(client, ready, tok, got, "spam").json["duplicate"] is False
    r = _answer(client, ready, tok, got, "ham")
    assert r.status_code == 409
    assert "already answered" in r.json["error"] and "'spam'" in r.json["error"]
    assert "/queue/relabel" in r.json["error"]
    iid = got["item"]["id"]
    assert store.gold(ready)[iid]["label"] == 1 and len(store.gold(ready)) == 1  # unchanged
    # the relabel it points to does change it
    r = client.post(f"/api/projects/{ready}/queue/relabel", headers=auth(tok),
                    json={"item_id": got["item"]["id"], "label": "ham"})
    assert r.status_code == 200 and r.json["changed"] is True
    assert store.gold(ready)[iid]["label"] == 0


def test_an_answer_sent_again_with_a_lease_from_before_an_undo_is_told_what_is_stored(
        client, store, ready):
    """API audit: answered, undone and answered again (the undo's new lease), a send
    of the first answer arriving late was a 409 "you already answered item 3" with no
    code and no word of what was stored; now as on the answering lease: the same label
    a duplicate, another a 409 ``already_answered`` naming it and pointing to relabel."""
    tok = annotator_token(client, ready, "finn")
    first = _next(client, ready, tok)
    assert _answer(client, ready, tok, first, "ham").json["duplicate"] is False
    iid = first["item"]["id"]
    undone = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok),
                         json={"item_id": iid}).json
    assert undone["undone"] is True and undone["lease"]["id"] != first["lease"]["id"]
    again = {"item": first["item"], "lease": undone["lease"]}
    assert _answer(client, ready, tok, again, "spam").json["duplicate"] is False
    r = _answer(client, ready, tok, first, "ham")  # the first send, late
    assert r.status_code == 409 and r.json["code"] == "already_answered", r.json
    assert r.json["label"] == 1 and "/queue/relabel" in r.json["error"]
    r = _answer(client, ready, tok, first, "spam")
    assert r.status_code == 200 and r.json["duplicate"] is True, r.json
    assert store.gold(ready)[iid]["label"] == 1 and len(store.answer_log(ready)) == 3


def test_a_stale_lease_of_the_holder_says_so(client, ready):
    tok = annotator_token(client, ready, "eve")
    got = _next(client, ready, tok)
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json={
        "item_id": got["item"]["id"], "label": "ham", "lease_id": "not-my-lease"})
    assert r.status_code == 409
    assert "not your current lease" in r.json["error"], r.json


def test_unknown_label_and_bad_lease_change_nothing(client, store, ready):
    tok = annotator_token(client, ready, "carol")
    got = _next(client, ready, tok)
    iid, lid = got["item"]["id"], got["lease"]["id"]
    for body, code in [({"item_id": iid, "label": "eggs", "lease_id": lid}, 400),
                       ({"item_id": iid, "label": 5, "lease_id": lid}, 400),
                       ({"item_id": iid, "label": True, "lease_id": lid}, 400),
                       ({"item_id": iid, "label": "ham", "lease_id": "forged"}, 409),
                       ({"item_id": "nope", "label": "ham", "lease_id": lid}, 404),
                       ({"item_id": iid, "label": "ham"}, 400),
                       ({"item_id": ["x"], "label": "ham", "lease_id": lid}, 400)]:
        r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json=body)
        assert r.status_code == code, body
        assert r.json["error"]
        if body.get("label") is True:
            assert "unknown label true;" in r.json["error"]  # as sent, not Python's True
        if "lease_id" not in body:  # new-user trial: "must be strings" for a missing one
            assert r.json["error"].startswith("lease_id missing"), r.json
    # a huge unknown label is quoted short: the error does not grow with the request
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok),
                    json={"item_id": iid, "label": "x" * 1_000_000, "lease_id": lid})
    assert r.status_code == 400 and len(r.data) < 500, len(r.data)
    assert "more characters); labels are" in r.json["error"]
    # an item that was never leased: a 409 that says how to get a lease
    other = next(i for i in store.queued_ids(ready) if i != iid)
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok),
                    json={"item_id": other, "label": "ham", "lease_id": lid})
    assert r.status_code == 409 and "never leased to you" in r.json["error"]
    assert "/queue/next" in r.json["error"]
    for shown in ("x", [1], ["a"] * 21):
        r = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok),
                        json={"shown": shown})
        assert r.status_code == 400 and "shown" in r.json["error"]
    assert store.gold(ready) == {} and store.answer_log(ready) == []
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok),
                    json={"item_id": iid, "label": 5, "lease_id": lid})
    assert r.json["error"].endswith('labels are ["ham", "spam"] (or their index from 0 to 1)')
    # a name in another case is the label's, as in uploads (new-user trial: an
    # upload took "SPAM" for spam, an answer refused it)
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok),
                    json={"item_id": iid, "label": " SPAM", "lease_id": lid})
    assert r.status_code == 200 and store.gold(ready)[iid]["label"] == 1, r.json


def test_lease_expiry_returns_the_item(store, ready):
    first = store.lease_next(ready, "a", ttl=0.3)
    second = store.lease_next(ready, "b", ttl=60)
    assert first[0] != second[0]
    time.sleep(0.4)
    again = store.lease_next(ready, "c", ttl=60)
    assert again[0] == first[0]  # expired lease back on top of the queue
    with pytest.raises(LeaseConflict):
        queue.answer(store, ready, "a", first[0], "ham", first[1])
    assert queue.answer(store, ready, "c", again[0], "ham", again[1])["duplicate"] is False


def test_a_late_answer_is_accepted_while_nobody_else_took_the_item(store, ready):
    """Any /next runs the expiry; a late answer used to be refused from then on,
    though nobody had taken the item (an idle page polls /next every few seconds)."""
    held = store.lease_next(ready, "d", ttl=60)
    late = store.lease_next(ready, "a", ttl=0.3)
    time.sleep(0.4)
    assert store.lease_of(ready, late[0]) is None  # expired: leased to nobody now
    assert store.lease_next(ready, "d", ttl=60)[0] == held[0]  # d's poll: its own item
    assert queue.answer(store, ready, "a", late[0], "spam", late[1])["duplicate"] is False
    assert store.gold(ready)[late[0]]["label"] == 1
    # a's own /next after the expiry gives a the same lease back
    mine = store.lease_next(ready, "a", ttl=0.3)
    time.sleep(0.4)
    again = store.lease_next(ready, "a", ttl=60)
    assert again[:2] == mine[:2]
    assert queue.answer(store, ready, "a", mine[0], "ham", mine[1])["duplicate"] is False
    # once someone else took the item, the late answer is refused, and theirs lands
    gone = store.lease_next(ready, "a", ttl=0.3)
    time.sleep(0.4)
    taken = store.lease_next(ready, "b", ttl=60)
    assert taken[0] == gone[0]  # the expired item went back on top of the queue
    with pytest.raises(LeaseConflict, match="leased by someone else"):
        queue.answer(store, ready, "a", gone[0], "ham", gone[1])
    assert queue.answer(store, ready, "b", taken[0], "spam", taken[1])["duplicate"] is False


def test_concurrent_annotators_never_share_an_item(redis_server, store, ready):
    from loop.storage import RedisStore

    got = lease_concurrently(lambda: RedisStore(redis_server.client), ready, 8, ttl=60)
    # the 30 ranked items, then the rest of the pool: every queueable item once
    assert len(got) == N_QUEUEABLE and len(set(got)) == N_QUEUEABLE


def test_a_reload_gets_the_same_items_back(client, store, ready):
    """The page shows one item and prefetches one; after a reload (or in a second
    tab) ``next`` hands back the leases this annotator already holds."""
    tok = annotator_token(client, ready, "reload")
    shown = _next(client, ready, tok)
    prefetched = _next(client, ready, tok, shown=[shown["item"]["id"]])
    assert prefetched["item"]["id"] != shown["item"]["id"]
    # reload: the page knows nothing
    again = _next(client, ready, tok)
    assert again["item"]["id"] == shown["item"]["id"]
    assert again["lease"]["id"] == shown["lease"]["id"]
    again2 = _next(client, ready, tok, shown=[again["item"]["id"]])
    assert again2["item"]["id"] == prefetched["item"]["id"]
    fresh = _next(client, ready, tok, shown=[again["item"]["id"], again2["item"]["id"]])
    assert fresh["item"]["id"] not in (shown["item"]["id"], prefetched["item"]["id"])
    assert _answer(client, ready, tok, again).status_code == 200  # the old lease still works


def test_next_falls_back_to_the_pool_when_the_ranked_queue_is_empty(client, store, ready):
    """No "queue empty" while unlabeled items remain: an empty ranked queue hands out
    random unlabeled items (exploration picks: unbiased, so they count as random gold)."""
    store.r.delete(store._k(ready, "queue"))
    tok = annotator_token(client, ready, "pool")
    seen = set()
    for _ in range(5):
        got = _next(client, ready, tok)
        assert got["item"]["reason"] == "exploration"
        assert _answer(client, ready, tok, got).status_code == 200
        seen.add(got["item"]["id"])
    assert seen <= store.audit_ids(ready)
    assert not seen & store.eval_ids(ready) and not seen & set(store.uploaded_gold(ready))


def test_skipped_items_come_back_only_when_nothing_else_is_left(client, store, project):
    """Others get a skipped item first; the one who skipped it gets it again only
    when nothing else is left for them."""
    _few_items_ready(client, store, project, ["a", "b", "c"])
    tok = annotator_token(client, project, "solo")
    a = _next(client, project, tok)
    assert _skip(client, project, tok, a).status_code == 200
    other = store.lease_next(project, "other", 60)
    assert other[0] == a["item"]["id"]  # someone else gets it first
    queue.skip(store, project, "other", other[0], other[1])
    b = _next(client, project, tok)
    c = _next(client, project, tok, shown=[b["item"]["id"]])
    assert a["item"]["id"] not in (b["item"]["id"], c["item"]["id"])
    _answer(client, project, tok, b)
    _answer(client, project, tok, c)
    last = _next(client, project, tok)  # only the skipped item is left
    assert last["item"]["id"] == a["item"]["id"]
    _answer(client, project, tok, last)
    assert _next(client, project, tok) is None
    assert client.get(f"/api/projects/{project}/queue/me",
                      headers=auth(tok)).json["remaining"] == 0


def test_the_leases_of_a_token_that_expired_go_to_the_others_once_nothing_else_is_left(
        client, store, project):
    """Team lead's trial: a token expired mid-item, and the two items its page held
    (the shown one and the prefetched one) were kept from everyone for the lease's
    five minutes: the others were told nothing was left. A revocation gives them
    back at once; an expiry now gives them back to the first who has nothing else."""
    _few_items_ready(client, store, project, ["a", "b", "c"])
    store.add_annotator(project, "brief", expires_at=time.time() + 60)
    held = [store.lease_next(project, "brief", 60)[0]]
    held.append(store.lease_next_full(project, "brief", 60, shown=held)["item_id"])
    tok = annotator_token(client, project, "solo")
    first = _next(client, project, tok)
    _answer(client, project, tok, first)
    assert _next(client, project, tok) is None  # brief's token works: theirs to answer
    store.add_annotator(project, "brief", expires_at=time.time() - 1)
    got = {(x := _next(client, project, tok))["item"]["id"]}
    _answer(client, project, tok, x)
    got.add((x := _next(client, project, tok))["item"]["id"])
    _answer(client, project, tok, x)
    assert got == set(held) and _next(client, project, tok) is None



def test_an_annotator_with_nothing_left_reads_only_the_leases_of_expired_tokens(
        client, store, project):
    """Re-trial: the hand-back of expired tokens' leases read every live lease, and
    each holder's record, at every /next of an annotator with nothing left (their
    page asks every 5 s): 4.5 ms at 600 live leases against 1.7 ms before it, 11 ms
    at 2,000. It now reads the annotators, then only the leases of expired tokens."""
    body = "CONTENT\n" + "\n".join(f"item number {i}" for i in range(30)) + "\n"
    client.post(f"/api/projects/{project}/items", data=body.encode(),
                headers={**auth(), "Content-Type": "text/csv"})
    from svc_helpers import apply_lfs_in_process

    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 30)
    shown: list[str] = []
    for _ in range(20):
        shown.append(store.lease_next_full(project, "busy", 60, shown=shown)["item_id"])
    store.add_annotator(project, "gone", expires_at=time.time() + 60)
    theirs = store.lease_next(project, "gone", 60)[0]
    store.add_annotator(project, "gone", expires_at=time.time() - 1)
    late: list[str] = []
    while (x := store.lease_next_full(project, "late", 60, shown=late)) is not None:
        late.append(x["item_id"])
    assert len(late) == 10 and late[-1] == theirs  # 9 left, then gone's handed back
    leaseh = store._k(project, "leaseh")  # now nothing is left for anyone
    with store.r.monitor() as m:
        store.r.set("loop:test:start", 1)
        got = store.lease_next(project, "late2", 60)
        store.r.set("loop:test:end", 1)
        cmds = []
        for ev in m.listen():
            if "loop:test:end" in ev["command"]:
                break
            cmds.append(ev["command"])
    assert got is None
    reads = [c for c in cmds if c.upper().startswith("HGET ") and leaseh in c]
    assert reads == []  # not one per live lease (30: busy's and late's)


def test_a_skip_sent_again_after_its_reply_was_lost_is_a_duplicate(client, store, project):
    """Client's retry trial (a flaky network between a script and the service): a
    skip was done, its reply lost, and the same skip sent again was a 409 "no active
    lease on item ...", as if it had failed; once someone else had the item, "leased
    by someone else". Sent again it is ``skipped`` and a ``duplicate``, as an answer
    sent again is; a skip of an item never skipped still needs its lease."""
    _few_items_ready(client, store, project, ["a", "b", "c"])
    tok = annotator_token(client, project, "solo")
    a = _next(client, project, tok)
    first = _skip(client, project, tok, a)
    assert first.status_code == 200 and first.json == {"skipped": True, "duplicate": False}
    again = _skip(client, project, tok, a)
    assert again.status_code == 200 and again.json == {"skipped": True, "duplicate": True}
    other = store.lease_next(project, "other", 60)
    assert other[0] == a["item"]["id"]  # someone else has it now
    assert _skip(client, project, tok, a).json == {"skipped": True, "duplicate": True}
    # the item was given back once: the other annotator still holds it
    assert store.r.hget(store._k(project, "leaseh"), a["item"]["id"]) is not None
    b = _next(client, project, tok)
    _answer(client, project, tok, b)
    r = _skip(client, project, tok, b)  # answered, never skipped
    assert r.status_code == 409 and "no active lease" in r.json["error"], r.json
    assert "you answered" in r.json["error"] and "/queue/next" in r.json["error"]



def test_an_answer_to_an_item_one_skipped_says_it_may_have_been_skipped(client, store,
                                                                         project):
    """Data scientist's trial: a script that skipped an item and then answered it with
    the same lease was told "it was never leased to you, or its lease expired", neither
    of which was so."""
    _few_items_ready(client, store, project, ["a", "b", "c"])
    tok = annotator_token(client, project, "solo")
    a = _next(client, project, tok)
    assert _skip(client, project, tok, a).status_code == 200
    r = _answer(client, project, tok, a)
    assert r.status_code == 409 and "you skipped or released it" in r.json["error"], r.json

def test_a_handed_back_lease_the_asker_had_skipped_is_served_at_once(client, store, project):
    """Re-trial: when the only lease an expired token gave back was an item the asker
    had skipped, that /next answered 204 (it tried the queue again, which passes over
    skipped items) and the labeling page waited 5 s to ask again."""
    _few_items_ready(client, store, project, ["a", "b"])
    tok = annotator_token(client, project, "solo")
    skipped = _next(client, project, tok)
    assert _skip(client, project, tok, skipped).status_code == 200
    _answer(client, project, tok, _next(client, project, tok))
    store.add_annotator(project, "brief", expires_at=time.time() + 60)
    assert store.lease_next(project, "brief", 60)[0] == skipped["item"]["id"]
    assert _next(client, project, tok) is None  # brief's token works: theirs to answer
    store.add_annotator(project, "brief", expires_at=time.time() - 1)
    again = _next(client, project, tok)
    assert again is not None and again["item"]["id"] == skipped["item"]["id"]


def test_skipped_items_come_back_in_turn_not_one_for_ever(client, store, project):
    """Fault trial: once an annotator had skipped everything, next and skip returned
    the same skipped item for ever: r3, r2, r1, r0, r1, r2, r2, r2, r2, r2. They come
    back from a random place in the skipped set (``lease.lua``), so each of the 4
    misses 20 serves with chance (3/4)^20: CI saw it once; 100 serves make that
    (3/4)^100."""
    _few_items_ready(client, store, project, ["a", "b", "c", "d"])
    served = []
    for _ in range(104):
        x = store.lease_next_full(project, "a", 60)
        served.append(x["item_id"])
        store.skip(project, "a", x["item_id"], x["lease_id"])
    assert len(set(served[:4])) == 4
    assert set(served[4:]) == set(served[:4])  # every skipped item came back


def test_leases_a_closed_page_held_go_back_at_once_not_marked_skipped(client, store, ready):
    """New-user trial: items a closed tab held were "open on someone's screen" for
    minutes. The page gives its leases back as it closes (``/queue/release``): the
    items are the next ones served, to anyone, this annotator too (a release is not
    a skip); a lease no longer held is left as it is; bad input changes nothing."""
    tok = annotator_token(client, ready, "rae")
    a = _next(client, ready, tok)
    b = _next(client, ready, tok, shown=[a["item"]["id"]])
    leases = [{"item_id": x["item"]["id"], "lease_id": x["lease"]["id"]} for x in (a, b)]
    url = f"/api/projects/{ready}/queue/release"
    for bad in ({}, {"leases": []}, {"leases": "x"}, {"leases": [leases[0], "x"]},
                {"leases": [{"item_id": a["item"]["id"]}]},
                {"leases": [{"item_id": 3, "lease_id": "y"}]},
                {"leases": leases * 11}, {"leases": leases, "more": 1}):
        r = client.post(url, headers=auth(tok), json=bad)
        assert r.status_code == 400 and r.json["error"], (bad, r.json)
    assert store.n_leased(ready) == 2
    other = annotator_token(client, ready, "sam")
    r = client.post(url, headers=auth(other), json={"leases": leases})  # not theirs
    assert r.status_code == 200 and r.json == {"released": [], "not_held": [
        a["item"]["id"], b["item"]["id"]]}
    assert store.n_leased(ready) == 2
    r = client.post(url, headers=auth(tok), json={"leases": leases})
    assert r.status_code == 200 and r.json == {"released": [a["item"]["id"], b["item"]["id"]],
                                               "not_held": []}
    assert store.n_leased(ready) == 0 and not store.skipped_ids(ready, "rae")
    again = _next(client, ready, tok)  # not a skip: the first item comes back first
    assert again["item"]["id"] == a["item"]["id"]
    r = client.post(url, headers=auth(tok), json={"leases": leases})  # sent twice
    assert r.json["not_held"] == [a["item"]["id"], b["item"]["id"]]
    assert store.n_leased(ready) == 1  # the new lease stands
    assert client.post(url, json={"leases": leases}).status_code == 401


def test_a_release_whose_lease_holds_a_key_it_does_not_take_is_refused(client, store, ready):
    """Re-trial: ``{"leases": [{item_id, lease_id, label}]}`` released the item and
    dropped the label unsaid; a key a request does not take is a 400 that changes
    nothing, inside each lease as at the top of the body (README, API)."""
    tok = annotator_token(client, ready, "rex")
    a = _next(client, ready, tok)
    lease = {"item_id": a["item"]["id"], "lease_id": a["lease"]["id"]}
    for extra in ({"label": "spam"}, {"itemid": "x"}):
        r = client.post(f"/api/projects/{ready}/queue/release", headers=auth(tok),
                        json={"leases": [lease, {**lease, **extra}]})
        assert r.status_code == 400 and repr(next(iter(extra))) in r.json["error"], r.json
    assert store.n_leased(ready) == 1


def test_a_release_names_its_page_and_gives_back_the_lease_it_never_read(
        client, store, ready):
    """Re-trial: a tab closed right after an answer key left the item its prefetch
    was leasing (the reply never read) held for LEASE_SECONDS. ``/next`` names the
    asking page (``page``); its release gives back the leases that page asked for
    last, except items it lists as ``shown`` (an answer to one may be on its way),
    and not those another page renewed since."""
    tok = annotator_token(client, ready, "pia")
    url = f"/api/projects/{ready}/queue/release"

    def nxt(page, shown=()):
        return client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok),
                           json={"shown": list(shown), "page": page}).json

    a = nxt("tab-1")
    b = nxt("tab-1", [a["item"]["id"]])  # the prefetch whose reply the page never read
    for bad in ({"page": 3, "leases": []}, {"page": "", "leases": []},
                {"page": "x" * 65, "leases": []}, {"leases": []},
                {"page": "tab-1", "leases": [], "shown": "x"}):
        r = client.post(url, headers=auth(tok), json=bad)
        assert r.status_code == 400 and r.json["error"], (bad, r.json)
    assert client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok),
                       json={"page": 7}).status_code == 400
    assert store.n_leased(ready) == 2
    r = client.post(url, headers=auth(tok), json={"page": "tab-9", "leases": []})
    assert r.json == {"released": [], "not_held": []} and store.n_leased(ready) == 2
    r = client.post(url, headers=auth(tok), json={
        "page": "tab-1", "leases": [], "shown": [a["item"]["id"]]})  # a: being answered
    assert r.status_code == 200 and r.json == {"released": [b["item"]["id"]], "not_held": []}
    assert store.n_leased(ready) == 1
    again = nxt("tab-2")  # another page renews a: it holds it now
    assert again["lease"]["id"] == a["lease"]["id"]
    r = client.post(url, headers=auth(tok), json={"page": "tab-1", "leases": []})
    assert r.json == {"released": [], "not_held": []} and store.n_leased(ready) == 1
    r = client.post(url, headers=auth(tok), json={"page": "tab-2", "leases": []})
    assert r.json == {"released": [a["item"]["id"]], "not_held": []}
    assert store.n_leased(ready) == 0 and not store.skipped_ids(ready, "pia")
    # a /next of a closed page that its release overtook (the real order, often)
    # leases nothing: its reply would go nowhere
    assert client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok),
                       json={"page": "tab-2"}).status_code == 204
    assert store.n_leased(ready) == 0
    assert nxt("tab-3")["item"]["id"]  # another page is served


def test_skip_undo_and_relabel(client, store, ready):
    tok = annotator_token(client, ready, "dan")
    a = _next(client, ready, tok)
    r = client.post(f"/api/projects/{ready}/queue/skip", headers=auth(tok),
                    json={"item_id": a["item"]["id"], "lease_id": "an-old-lease"})
    assert r.status_code == 409 and "not your current lease" in r.json["error"], r.json
    assert _skip(client, ready, tok, a).status_code == 200
    b = _next(client, ready, tok)
    assert b["item"]["id"] != a["item"]["id"]  # not offered a skipped item while others remain
    _answer(client, ready, tok, b)
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert (me["answers_today"], me["answers_total"]) == (1, 1)
    r = client.post(f"/api/projects/{ready}/queue/relabel", headers=auth(tok),
                    json={"item_id": b["item"]["id"], "label": "spam"})
    assert r.json == {"item_id": b["item"]["id"], "label": "spam", "changed": True}
    assert store.gold(ready)[b["item"]["id"]]["label"] == 1
    assert [e["event"] for e in store.answer_log(ready)] == ["answer", "relabel"]
    for body, code in [({"item_id": a["item"]["id"], "label": "ham"}, 404),
                       ({"item_id": b["item"]["id"], "label": "eggs"}, 400),
                       ({"label": "ham"}, 400)]:
        r = client.post(f"/api/projects/{ready}/queue/relabel", headers=auth(tok), json=body)
        assert r.status_code == code and r.json["error"], body
    # a malformed or unexpected body is refused, and nothing is undone (fault trial:
    # undo read no body, so '{garbage' undid the answer with a 200)
    for data, code in (('{garbage', 400), ('{"item": "x"}', 400), ('[]', 400),
                       ('{"item_id": 7}', 400), ('{"item_id": "no-such-item"}', 404)):
        r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok), data=data,
                        content_type="application/json")
        assert r.status_code == code and r.json["error"], data
        assert b["item"]["id"] in store.gold(ready)
    # the skipped item: no answer of dan's to take back, and not a retry of an undo
    # (new-user trial: another's item read as one, 200 "undone": false)
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok),
                    json={"item_id": a["item"]["id"]})
    assert r.status_code == 409 and r.json["error"] == (
        f"you have no answer to item {a['item']['id']!r} to undo: only your own last "
        "answer is undone"), r.json
    assert b["item"]["id"] in store.gold(ready)
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok))
    assert _held(r.json) == {"item_id": b["item"]["id"], "undone": True, **QUEUED}
    assert store.gold(ready) == {}
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert (me["answers_today"], me["answers_total"]) == (0, 0)
    assert me["remaining"] == N_QUEUEABLE
    c = _next(client, ready, tok)
    assert c["item"]["id"] == b["item"]["id"]  # undone item comes back first
    assert client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok)).status_code == 400


def test_me_says_how_many_items_are_open_on_someones_screen(client, store, ready):
    """New-user trial: "All done ... 2 items still need answers from others" were the
    items a closed tab still held."""
    alice, bob = (annotator_token(client, ready, n) for n in ("alice2", "bob2"))
    url = f"/api/projects/{ready}/queue/me"
    assert client.get(url, headers=auth(bob)).json["leased"] == 0
    got = _next(client, ready, alice)
    assert client.get(url, headers=auth(bob)).json["leased"] == 1
    _answer(client, ready, alice, got)
    assert client.get(url, headers=auth(bob)).json["leased"] == 0


def test_an_undo_of_another_annotators_answer_is_refused(client, store, ready):
    """New-user trial: bob's undo naming alice's item answered 200 ``undone: false``,
    which reads as a retry of an undo that was applied."""
    alice, bob = (annotator_token(client, ready, n) for n in ("alice", "bob"))
    x = _next(client, ready, alice)
    _answer(client, ready, alice, x)
    _answer(client, ready, bob, _next(client, ready, bob))
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(bob),
                    json={"item_id": x["item"]["id"]})
    assert r.status_code == 409 and "you have no answer to item" in r.json["error"], r.json
    assert x["item"]["id"] in store.gold(ready)
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(alice),
                    json={"item_id": x["item"]["id"]})
    assert _held(r.json) == {"item_id": x["item"]["id"], "undone": True, **QUEUED}
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(alice),
                    json={"item_id": x["item"]["id"]})  # her retry
    assert r.json == {"item_id": x["item"]["id"], "undone": False}


def test_an_undone_item_is_held_for_the_undoer_not_served_to_another(client, store, ready):
    """Team session: an undone item went back on top of the queue unleased, and
    another annotator's page took it in the moment before the undoer's asked for it
    again. It is leased to the undoer now: the others are served other items, the
    undoer's next ``/next`` gives it back with the lease the undo named (or an
    answer with that lease goes straight in), and once that lease runs out unanswered
    the item is first in the queue for anyone."""
    alice, bob = (annotator_token(client, ready, n) for n in ("alice3", "bob3"))
    x = _next(client, ready, alice)
    _answer(client, ready, alice, x)
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(alice),
                    json={"item_id": x["item"]["id"]})
    lease = r.json["lease"]
    assert _held(r.json) == {"item_id": x["item"]["id"], "undone": True, **QUEUED}
    assert _next(client, ready, bob)["item"]["id"] != x["item"]["id"]
    again = _next(client, ready, alice)
    assert (again["item"]["id"], again["lease"]["id"]) == (x["item"]["id"], lease["id"])
    _answer(client, ready, alice, {"item": again["item"], "lease": {"id": lease["id"]}},
            label="spam")
    assert store.gold(ready)[x["item"]["id"]]["label"] == 1
    # held for a moment only (the store's own call, a short hold): then anyone's again
    assert queue.undo(store, ready, "alice3", item_id=x["item"]["id"],
                      hold_seconds=0.2)["lease"]
    time.sleep(0.3)
    assert store.lease_next_full(ready, "carol", ttl=60)["item_id"] == x["item"]["id"]


def test_an_undo_sent_again_takes_back_nothing_more(client, store, ready):
    """Operator's trial: an undo answered 503 (Redis paused) had been applied, and
    its retry took back a second answer; five undos at once took back four. With
    the item named, a retry or a double click undoes that answer once."""
    from concurrent.futures import ThreadPoolExecutor

    tok = annotator_token(client, ready, "retry")
    got = []
    for _ in range(3):
        x = _next(client, ready, tok)
        _answer(client, ready, tok, x)
        got.append(x["item"]["id"])
    url = f"/api/projects/{ready}/queue/undo"

    def undo(_):
        r = client.application.test_client().post(url, headers=auth(tok),
                                                  json={"item_id": got[-1]})
        return r.status_code, r.json

    with ThreadPoolExecutor(5) as ex:
        outs = list(ex.map(undo, range(5)))
    assert sorted(c for c, _ in outs) == [200] * 5
    assert sorted(o["undone"] for _, o in outs) == [False] * 4 + [True]
    assert {o["item_id"] for _, o in outs} == {got[-1]}
    assert set(store.gold(ready)) == set(got[:2])  # the two before it kept
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert me["answers_total"] == 2
    # an earlier answer named while another is last: 409, nothing undone
    r = client.post(url, headers=auth(tok), json={"item_id": got[0]})
    assert r.status_code == 409 and f"your last answer is to item {got[1]!r}" in r.json["error"]
    assert set(store.gold(ready)) == set(got[:2])
    # and the last one named is undone as asked
    r = client.post(url, headers=auth(tok), json={"item_id": got[1]})
    assert _held(r.json) == {"item_id": got[1], "undone": True, **QUEUED}
    assert set(store.gold(ready)) == {got[0]}


def test_export_and_lf_stats(client, store, ready):
    x = store.lease_next(ready, "f", ttl=60)
    queue.answer(store, ready, "f", x[0], "spam", x[1])
    csv_r = client.get(f"/api/projects/{ready}/export?format=csv", headers=auth())
    assert csv_r.status_code == 200 and csv_r.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(csv_r.data.decode())))
    std = ["id", "text", "p_ham", "p_spam", "label", "gold", "source", "model_label",
           "annotator", "answered_at", "held_out", "random_gold"]
    assert table[0][:12] == std
    assert len(table) == 351
    rows = [json.loads(s) for s in client.get(
        f"/api/projects/{ready}/export?format=jsonl", headers=auth()).data.splitlines()]
    # the other uploaded columns too, as in JSON lines (new-user trial: the CSV could
    # not be joined back to the user's data)
    fields = list(rows[0]["fields"])
    assert fields and table[0][12:] == fields
    assert [dict(zip(table[0], t, strict=True))[fields[0]] for t in table[1:]] == [
        str(r["fields"][fields[0]]) for r in rows]
    gold = [r for r in rows if r["source"] == "gold"]
    assert [(g["id"], g["gold"], g["label"], g["annotator"]) for g in gold] == [
        (x[0], "spam", "spam", "f")]
    # every row says the models' label too, a known label or not: on the held-out
    # rows the export's own check of the dashboard's held-out score (new-user trial)
    lm, em = store.load_probas(ready, ["label_model", "end_model"], 2)
    row_of = {iid: r for r, iid in enumerate(store.item_ids(ready))}
    held = [r for r in rows if r["held_out"]]
    assert held and all(r["source"] == "uploaded" for r in held)
    model = em if em is not None else lm
    assert [r["model_label"] for r in rows] == [
        ["ham", "spam"][int(model[row_of[r["id"]]].argmax())] for r in rows]
    assert all(r["model_label"] == r["label"] for r in rows
               if r["source"] in ("end_model", "label_model"))
    assert all(r["model_label"] in ("ham", "spam") and r["gold"] for r in held)
    # Each row carries its item's text, so the export alone is a training set.
    texts = {it["id"]: it["text"] for it in store.items(ready)}
    assert all(r["text"] == texts[r["id"]] for r in rows)
    from loop.service.export import csv_safe

    assert {r[0]: r[1] for r in table[1:]} == {k: csv_safe(v) for k, v in texts.items()}
    lfs = client.get(f"/api/projects/{ready}/lfs", headers=auth()).json["lfs"]
    assert [r["name"] for r in lfs][:2] == ["check_out", "subscribe"]
    assert lfs[0]["polarity"] == ["spam"]
    # judged on the one answer, never on the held-out labels (they score the models)
    assert all(r["correct"] + r["incorrect"] <= 1 for r in lfs)
    assert lfs[0]["learned_accuracy"] is not None
    # no random gold yet (held-out labels only): a one-sided LF's precision is assumed
    assert all(r["learned_assumed"] for r in lfs if len(r["polarity"]) == 1)
    assert lfs[0]["learned_accuracy"] == pytest.approx(0.7)
    assert {"coverage", "overlaps", "conflicts", "correct", "incorrect", "learned_accuracy",
            "errors", "error_example"} <= set(lfs[0])


def test_the_export_labels_items_without_gold_by_the_end_model_once_there(
        client, store, ready):
    """The exported label of an item without gold is the end model's once one is
    trained (it learns from the answers too: on five WRENCH sets 2 to 15 points
    ahead of the label model's labels from 100 answers on, also where an LF votes),
    the label model's before then."""
    def export():
        return [json.loads(s) for s in client.get(
            f"/api/projects/{ready}/export?format=jsonl", headers=auth()).data.splitlines()]

    assert {r["source"] for r in export() if not r["held_out"]} == {"label_model"}
    models.retrain_end_model(store, ready, 30)
    em = store.load_proba(ready, "end_model", 2)
    row = {iid: r for r, iid in enumerate(store.item_ids(ready))}
    rows = [r for r in export() if not r["held_out"]]
    assert {r["source"] for r in rows} == {"end_model"}
    assert all(r["p_spam"] == pytest.approx(float(em[row[r["id"]], 1]), abs=1e-6)
               and r["label"] == ("spam" if em[row[r["id"]], 1] > 0.5 else "ham")
               for r in rows)
    # items uploaded after it was trained: the label model's until the next training
    body = b"CONTENT\ncheck out my channel please\n"
    assert client.post(f"/api/projects/{ready}/items", data=body, headers={
        **auth(), "Content-Type": "text/csv"}).status_code == 201
    assert (export()[-1]["source"], export()[-1]["label"]) == (None, None)  # nothing yet
    from svc_helpers import apply_lfs_in_process

    apply_lfs_in_process(store, ready)
    models.recalibrate(store, ready, 30)
    rows = export()
    assert (rows[-1]["source"], rows[-1]["label"]) == ("label_model", "spam")
    assert {r["source"] for r in rows[:-1] if not r["held_out"]} == {"end_model"}


def test_an_export_reads_its_items_a_chunk_at_a_time_and_is_the_same_file(
        store, ready, monkeypatch):
    """Speed trial: an export held every item and every row at once (686 MB at
    200,000 items, in a web process for GET /export). Its rows are now made a chunk
    of items at a time; the file is the same whatever the chunk."""
    from loop.service import export

    models.retrain_end_model(store, ready, 30)
    for _ in range(3):  # answers, an uploaded label held out, the rest from the models
        iid, lid, _ = store.lease_next(ready, "amy", 60)
        queue.answer(store, ready, "amy", iid, 1, lid)
    whole = {f: export.export_bytes(store, ready, f) for f in ("csv", "jsonl")}
    read: list[int] = []
    real = type(store).items

    def items(self, pid, ids=None):
        read.append(len(ids) if ids is not None else -1)
        return real(self, pid, ids)

    monkeypatch.setattr(type(store), "items", items)
    monkeypatch.setattr(export, "EXPORT_CHUNK", 7)
    for f in ("csv", "jsonl"):
        read.clear()
        assert export.export_bytes(store, ready, f) == whole[f]
        # the items 7 at a time (twice for a CSV: its columns are named first), and
        # the 3 answered ones' texts
        assert max(read) == 7 and 3 in read and -1 not in read, read
    assert {r["source"] for r in map(json.loads, whole["jsonl"].splitlines())} >= {
        "gold", "uploaded", "end_model"}


def test_the_export_keeps_the_label_models_labels_where_the_held_out_labels_say_so(
        store, ready):
    """The guard: where an LF votes, the held-out labels can show the label model the
    better (a text whose words say little of its class); then its labels are kept
    there, and the end model's elsewhere."""
    import numpy as np

    from loop.service.export import label_model_rows

    ids = store.item_ids(ready)
    uploaded, held_out = store.uploaded_gold(ready), store.eval_ids(ready)
    lm = store.load_proba(ready, "label_model", 2)
    truth = np.array([uploaded.get(i, 0) for i in ids])
    right, wrong = np.eye(2)[truth], np.eye(2)[1 - truth]
    L, _ = store.load_L(ready)
    covered = (L >= 0).any(axis=1)
    got = label_model_rows(store, ready, ids, uploaded, held_out, lm, wrong)
    assert got is not None and np.array_equal(got, covered)  # the end model always wrong
    assert label_model_rows(store, ready, ids, uploaded, held_out, lm, right) is None
    assert label_model_rows(store, ready, ids, uploaded, set(), lm, wrong) is None


def test_csv_export_escapes_formulas_and_jsonl_keeps_them(client, store, project):
    client.post(f"/api/projects/{project}/items?id_field=id", data=(
        b"id,CONTENT,source,=HYPERLINK(\"http://y\")\n1,=HYPERLINK(\"http://x\"),=1+2,b\n"
        b"2,+1,a,b\n3,-2+3,a,b\n4,@SUM(A1),a,b\n5,plain,a,b\n6,-3.5,a,b\n7,-1e3,a,b\n"),
        headers={**auth(), "Content-Type": "text/csv"})
    table = list(csv.reader(io.StringIO(client.get(
        f"/api/projects/{project}/export?format=csv", headers=auth()).data.decode())))
    assert [r[1] for r in table[1:]] == ["'=HYPERLINK(\"http://x\")", "+1", "'-2+3",
                                         "'@SUM(A1)", "plain", "-3.5", "-1e3"]  # numbers stay
    # an uploaded column named like an export column keeps its own, escaped too
    assert table[0][-2] == "field:source" and table[1][-2] == "'=1+2"
    # and one whose name a spreadsheet would run, in the header (security trial)
    assert table[0][-1] == 'field:=HYPERLINK("http://y")'
    rows = [json.loads(s) for s in client.get(
        f"/api/projects/{project}/export?format=jsonl", headers=auth()).data.splitlines()]
    assert rows[0]["text"] == '=HYPERLINK("http://x")'


def test_parse_label():
    assert queue.parse_label(["a", "b"], "b") == 1
    with pytest.raises(UnknownLabel):
        queue.parse_label(["a", "b"], 2)


def test_exploration_picks_are_marked_and_only_their_answers_are_random_gold(
    store, client, ready, monkeypatch
):
    """A share of every ranking is drawn at random ("exploration"); only answers to
    those items may re-estimate LF precisions in the label model."""
    from loop.core.label_model import LabelModel

    queued = store.queued_ids(ready)
    random_picks = [i for i in queued if store.reason(ready, i) == "exploration"]
    assert random_picks, "the ranking drew no random picks"
    assert not store.audit_ids(ready), "nothing was served yet"
    explored = random_picks[0]
    picked = next(i for i in queued if i not in random_picks)
    for who, item_id in (("expert", explored), ("expert2", picked)):
        while True:  # walk the queue to the item (skipped items go to others first)
            got = store.lease_next(ready, who, ttl=60)
            if got[0] == item_id:
                break
            store.skip(ready, who, got[0], got[1])
        queue.answer(store, ready, who, item_id, "spam", got[1])

    seen = {}
    real_fit = LabelModel.fit

    def spy(self, L, y=None, random_gold=None):
        seen["y"], seen["random_gold"] = y, random_gold
        return real_fit(self, L, y, random_gold=random_gold)

    monkeypatch.setattr(LabelModel, "fit", spy)
    models.recalibrate(store, ready, 30)
    ids = store.item_ids(ready)
    gold_rows = {ids[r] for r in (seen["y"] >= 0).nonzero()[0]}
    random_rows = {ids[r] for r in seen["random_gold"].nonzero()[0]}
    assert {explored, picked} <= gold_rows
    assert explored in random_rows and picked not in random_rows


def test_a_held_item_keeps_why_it_was_asked_through_a_new_ranking(store, ready):
    """New-user trial: a random pick held on screen came back after a recalibration
    (page reload) badged "Checks the LFs": the new ranking had dropped the reasons
    of the items it leaves out because they are leased."""
    explored, got = _lease_a_random_pick(store, ready, "expert", ttl=60)
    assert got["reason"] == "exploration"
    others = _rank_others_first(store, ready, explored)
    again = store.lease_next_full(ready, "expert", ttl=60)  # a reload: the held lease
    assert again["item_id"] == explored and again["lease_id"] == got["lease_id"]
    assert again["reason"] == "exploration"
    assert store.reason(ready, others[0]) == "lfs_conflict"


def test_an_expired_lease_renewed_by_its_holder_keeps_its_reason_and_leaves_the_queue(
        store, ready):
    """An operator's trial: a random pick held past its lease went back to the queue,
    a new ranking called it "pattern_check", and the holder's next call renewed it
    with that badge (its answer still random gold) while it also stayed queued."""
    import time

    explored, got = _lease_a_random_pick(store, ready, "holder", ttl=0.2)
    time.sleep(0.3)  # expired: the next lease by anyone puts it back in the queue
    other = store.lease_next_full(ready, "someone", ttl=60, shown=[explored])
    assert other["item_id"] != explored and explored in store.queued_ids(ready)
    assert store.replace_queue(ready, [(explored, 9.0, "pattern_check")],
                               store.state_version(ready))
    again = store.lease_next_full(ready, "holder", ttl=60)
    assert again["item_id"] == explored and again["lease_id"] == got["lease_id"]
    assert again["reason"] == "exploration" and explored in store.audit_ids(ready)
    assert explored not in store.queued_ids(ready)  # leased, so not counted as queued too


def test_a_random_pick_served_later_as_an_uncertain_item_is_not_random_gold(
    store, client, ready
):
    """Regression (new-user trial on the demo, 30 answers): every random pick of
    every 1,000-item ranking was remembered as random gold, so after a few rankings
    most items were, and answers to the sampler's uncertain picks (spam where ham
    rules fire) re-estimated the ham rules' precisions down to 45-61%: the label
    model fell from 0.906 to 0.804 on held-out items (the same loop in memory: 0.90
    to 0.96). Only an item *leased* as an exploration pick counts."""
    from loop.service import models
    from loop.service.state import State

    tok = annotator_token(client, ready, "alice")
    first = _next(client, ready, tok)
    assert _answer(client, ready, tok, first).status_code == 200
    drawn = [i for i in store.queued_ids(ready) if store.reason(ready, i) == "exploration"]
    assert drawn
    item = drawn[-1]  # drawn at random by this ranking, not leased yet
    # the next ranking lists it as an uncertain item, at the head
    ranking = [(item, 1e6, "lfs_conflict")] + [
        (i, 1.0, store.reason(ready, i) or "model_uncertain")
        for i in store.queued_ids(ready) if i != item]
    assert store.replace_queue(ready, ranking, store.state_version(ready))
    got = _next(client, ready, tok)
    assert got["item"]["id"] == item and got["item"]["reason"] == "lfs_conflict"
    assert _answer(client, ready, tok, got).status_code == 200
    st = State(store, ready)
    row = int(store.rows_of(ready, [item])[0])
    assert st.y[row] >= 0 and not st.random_gold[row]
    first_row = int(store.rows_of(ready, [first["item"]["id"]])[0])
    assert st.random_gold[first_row] == (first["item"]["reason"] == "exploration")
    models.recalibrate(store, ready, 30)
    summary = store.model_summary(ready, "label_model")
    assert summary["n_random_gold"] == int(st.random_gold.sum())


def test_copies_of_an_answered_text_are_exported_with_its_answer(client, store, project):
    """Re-trial: the loop never asks about a copy of an answered text, and the export
    gave two copies of a message answered ham the label model's spam."""
    from svc_helpers import apply_lfs_in_process

    from loop.service import models

    body = ("CONTENT\n" + "check out my channel\n" * 3 + "subscribe to me\n" * 2
            + "".join(f"comment number {i}\n" for i in range(20))).encode()
    r = client.post(f"/api/projects/{project}/items", data=body,
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 10)
    ids = store.item_ids(project)

    def answer(n, who, label):  # that item, whatever the sampler would ask about
        assert store.replace_queue(project, [(ids[n], 1.0, "test")], 10**6 + n)
        x = store.lease_next(project, who, ttl=60)
        assert x[0] == ids[n]
        queue.answer(store, project, who, ids[n], label, x[1])

    answer(0, "f", "ham")  # "check out my channel"
    answer(3, "f", "ham")  # copies answered differently: no answer is theirs
    answer(4, "g", "spam")
    rows = {r["id"]: r for r in (json.loads(s) for s in client.get(
        f"/api/projects/{project}/export?format=jsonl", headers=auth()).data.splitlines())}
    assert [(rows[i]["source"], rows[i]["label"], rows[i]["gold"]) for i in ids[:3]] == [
        ("gold", "ham", "ham"), ("copy", "ham", None), ("copy", "ham", None)]
    assert {rows[i]["source"] for i in ids[3:5]} == {"gold"}
    assert rows[ids[5]]["source"] in ("label_model", "end_model")


def test_a_sentence_naming_two_entity_pairs_is_two_questions_not_copies(
        client, store, project):
    """New-user trial (chemprot, one sentence per entity pair): 855 of 3,214 items
    were never asked for repeating another pair's sentence, and the export gave each
    the answer of that other pair (`copy`), where chemprot's pairs of one sentence
    differ in 397 items. Items of one text and one pair are still copies. And the
    end model, whose labels the export takes, read the text alone."""
    from svc_helpers import apply_lfs_in_process

    from loop.service.state import State

    s = "check out how A binds B and C"
    body = ("CONTENT,entity1,entity2\n" + f"{s},A,B\n{s},A,C\n{s},A,C\n"
            + "".join(f"comment number {i},x,y\n" for i in range(20))).encode()
    assert client.post(f"/api/projects/{project}/items", data=body, headers={
        **auth(), "Content-Type": "text/csv"}).status_code == 201
    apply_lfs_in_process(store, project)
    ids = store.item_ids(project)
    X = models.text_features(store, State(store, project))  # as an end-model training does
    # the end model reads the pair too: every pair of a sentence got one label
    assert (X[0] != X[1]).nnz and not (X[1] != X[2]).nnz
    models.recalibrate(store, project, 5)
    assert store.n_copies(project) == 1  # the second (A, C) only
    assert store.replace_queue(project, [(ids[0], 1.0, "test")], 10**6)
    x = store.lease_next(project, "f", ttl=60)
    queue.answer(store, project, "f", ids[0], "spam", x[1])
    rows = {r["id"]: r for r in (json.loads(s) for s in client.get(
        f"/api/projects/{project}/export?format=jsonl", headers=auth()).data.splitlines())}
    assert rows[ids[0]]["source"] == "gold"
    assert rows[ids[1]]["source"] != "copy" and rows[ids[2]]["source"] != "copy"


def test_nothing_hands_out_a_copy_of_an_answered_text_and_remaining_leaves_copies_out(
        client, store, project):
    """Soak trial: once the ranked queue had nothing left, the pool's random draw
    served exact copies of answered texts (365 of its 429 draws), where the loop the
    benchmarks measure never asks about one; and "remaining" counted them."""
    from svc_helpers import apply_lfs_in_process

    from loop.service.state import State

    body = ("CONTENT\n" + "check out my channel\n" * 3 + "subscribe to me\n" * 2
            + "".join(f"comment number {i}\n" for i in range(20))).encode()
    assert client.post(f"/api/projects/{project}/items", data=body, headers={
        **auth(), "Content-Type": "text/csv"}).status_code == 201
    apply_lfs_in_process(store, project)
    ids = store.item_ids(project)
    text = {i: t["text"] for i, t in zip(ids, store.items(project), strict=True)}
    # the second "check out my channel" is leased when the ranking is made: the
    # first is then its copy
    assert store.replace_queue(project, [(ids[1], 1.0, "test")], store.state_version(project))
    held = store.lease_next(project, "a", ttl=60)
    assert held[0] == ids[1]
    models.text_features(store, State(store, project))  # as an end-model training does
    models.recalibrate(store, project, 5)
    assert store.n_copies(project) == 3  # ids 0 and 2, and the second "subscribe to me"
    assert store.pool_size(project) == 25 - 3
    metrics = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert (metrics["remaining"], metrics["n_copies"]) == (22, 3)

    served = [ids[1]]
    queue.answer(store, project, "a", ids[1], "ham", held[1])
    while (got := store.lease_next(project, "b", ttl=60)) is not None:  # queue, then pool
        served.append(got[0])
        queue.answer(store, project, "b", got[0], "spam", got[1])
    assert sorted(text[i] for i in served) == sorted(set(text.values()))
    assert store.pool_size(project) == 0
    me = client.get(f"/api/projects/{project}/queue/me?done=1",
                    headers=auth(annotator_token(client, project, "c"))).json
    assert (me["remaining"], me["waiting_for_others"]) == (0, 0)  # "Every item has ..."

    # the leased item's answer undone: the next ranking finds the first copy of
    # its text the one to ask again, and it is back in the pool (the others not)
    queue.undo(store, project, "a")
    models.refill(store, project, 5)
    assert store.n_copies(project) == 3 and store.pool_size(project) == 1
    got = store.lease_next(project, "b", ttl=60)
    assert got is not None and got[0] == ids[0]


def test_the_reason_shown_is_told_from_the_models_as_they_are_now():
    """New-user trial: "Model uncertain" beside an end-model guess 92% sure."""
    import numpy as np

    from loop.service.queue import _guess, _reason_now

    def p(*x):
        return np.array(x, dtype=np.float64)

    def reason(r, proba):  # as lease_item asks: from the two guesses
        return _reason_now(r, _guess(proba, ["ham", "spam"]),
                           _guess({"label_model": proba["label_model"]}, ["ham", "spam"]))

    nan = p(np.nan, np.nan)
    assert reason("lfs_conflict", {"label_model": p(.5, .5), "end_model": None}) \
        == "lfs_conflict"  # the ranking's own reasons stand
    assert reason("model_uncertain", {"label_model": p(.3, .7),
                                      "end_model": p(.92, .08)}) == "models_disagree"
    assert reason("model_uncertain", {"label_model": p(.4, .6),
                                      "end_model": p(.35, .65)}) == "model_uncertain"
    assert reason("model_uncertain", {"label_model": p(.1, .9),
                                      "end_model": p(.08, .92)}) == "pattern_check"
    assert reason(None, {"label_model": nan, "end_model": None}) == "model_uncertain"
    assert reason(None, {"label_model": nan, "end_model": p(.9, .1)}) == "pattern_check"


def test_ids_at_of_a_project_deleted_under_a_job_says_so(client, store, ready):
    """Re-trial: a recalibration of a project deleted mid-run ended in a raw
    AttributeError from ids_at, not as a deleted project."""
    from loop.errors import ProjectNotFound

    assert len(store.ids_at(ready, [0, 1])) == 2
    name = client.get(f"/api/projects/{ready}", headers=auth()).json["name"]
    client.delete(f"/api/projects/{ready}", headers=auth(), json={"confirm": name})
    with pytest.raises(ProjectNotFound):
        store.ids_at(ready, [0, 1])


def test_an_undone_random_pick_comes_back_as_one_and_its_answer_stays_random_gold(
        store, ready):
    """A new-user trial: a random pick answered, undone and answered again came back
    badged "Model uncertain", and its answer no longer counted as random gold."""
    explored, got = _lease_a_random_pick(store, ready, "expert", ttl=60)
    queue.answer(store, ready, "expert", explored, "spam", got["lease_id"])
    assert explored in store.audit_ids(ready)
    # a new ranking meanwhile drops the answered item's reason
    others = _rank_others_first(store, ready, explored)
    assert queue.undo(store, ready, "expert", item_id=explored)["undone"] is True
    again = store.lease_next_full(ready, "expert", ttl=60)
    assert again["item_id"] == explored and again["reason"] == "exploration"
    queue.answer(store, ready, "expert", explored, "ham", again["lease_id"])
    assert explored in store.audit_ids(ready)
    # an item the sampler picked stays one after an undo
    got = store.lease_next_full(ready, "second", ttl=60)
    picked = got["item_id"]
    assert picked in others and got["reason"] == "lfs_conflict"
    queue.answer(store, ready, "second", picked, "ham", got["lease_id"])
    assert queue.undo(store, ready, "second", item_id=picked)["undone"] is True
    again = store.lease_next_full(ready, "second", ttl=60)
    assert again["item_id"] == picked and again["reason"] != "exploration"
    assert picked not in store.audit_ids(ready)


def test_a_random_pick_whose_answer_was_discarded_comes_back_as_one(store, ready):
    """Team lead's trial: a careless annotator's answers discarded, their random
    picks came back as the sampler's picks, and the answers others gave them no
    longer counted as random gold (an undo kept the mark; a discard did not)."""
    explored, got = _lease_a_random_pick(store, ready, "sloppy", ttl=60)
    queue.answer(store, ready, "sloppy", explored, "spam", got["lease_id"])
    _rank_others_first(store, ready, explored)
    store.discard_answers(ready, "sloppy")
    _served_again_as_a_random_pick(store, ready, explored)


def test_a_random_pick_comes_back_as_one_when_its_resolution_is_taken_back(store, ready):
    """Team lead's trial, left over: a random pick the admin settled, whose answer was
    then undone, came back as the sampler's pick once the resolution was taken back
    (a ranking since had dropped its reason), and its next answer was no random gold."""
    explored, got = _lease_a_random_pick(store, ready, "ann", ttl=60)
    queue.answer(store, ready, "ann", explored, "spam", got["lease_id"])
    assert store.resolve(ready, explored, 0, "admin") == "resolved"
    assert queue.undo(store, ready, "ann", item_id=explored)["undone"] is True
    _rank_others_first(store, ready, explored)
    assert store.resolve(ready, explored, None, "admin") == "unresolved"
    _served_again_as_a_random_pick(store, ready, explored)


def _rank_others_first(store, pid: str, item: str) -> list[str]:
    """A ranking of three other items (returned): it drops the reasons of items not
    in it."""
    others = [i for i in store.item_ids(pid) if i != item][:3]
    assert store.replace_queue(pid, [(i, 1.0, "lfs_conflict") for i in others],
                               store.state_version(pid))
    return others


def _served_again_as_a_random_pick(store, pid: str, item: str) -> None:
    """``item`` is leased again (others skipped past) as a random pick, and its next
    answer is random gold."""
    seen: list[str] = []
    while (again := store.lease_next_full(pid, "expert", 60, shown=seen))["item_id"] != item:
        seen.append(again["item_id"])
    assert again["reason"] == "exploration"
    queue.answer(store, pid, "expert", item, "ham", again["lease_id"])
    assert item in store.audit_ids(pid)


def _lease_a_random_pick(store, pid: str, annotator: str, ttl: float) -> tuple[str, dict]:
    """Walk the queue to its first random pick (the items before it are skipped) and
    lease it: its id and the lease."""
    queued = store.queued_ids(pid)
    explored = next(i for i in queued if store.reason(pid, i) == "exploration")
    while True:
        got = store.lease_next_full(pid, annotator, ttl=ttl)
        if got["item_id"] == explored:
            return explored, got
        store.skip(pid, annotator, got["item_id"], got["lease_id"])


def test_a_name_added_again_says_its_answers_go_with_the_new_token(client, ready):
    """Team lead's trial: the page asks before a name is added again, since its answers
    go with the new token (which can undo the last of them); the API said nothing."""
    first = client.post(f"/api/projects/{ready}/annotators", headers=auth(),
                        json={"name": "bob"}).json
    assert "note" not in first  # a new name: no answers
    got = client.post(f"/api/projects/{ready}/queue/next", headers=auth(first["token"])).json
    assert client.post(f"/api/projects/{ready}/queue/answer", headers=auth(first["token"]), json={
        "item_id": got["item"]["id"], "lease_id": got["lease"]["id"],
        "label": "ham"}).status_code == 200
    again = client.post(f"/api/projects/{ready}/annotators", headers=auth(),
                        json={"name": "bob"}).json
    assert again["note"] == ("the name 'bob' has 1 answer: they go with this token (its holder "
                             "sees them and can undo the last); for another person, use "
                             "another name"), again


def test_counts_read_while_answers_arrive_agree(client, store, ready):
    """Operator's trial: under load /metrics had ``n_gold`` 1 to 5 below ``n_answers``
    with one answer per item (gold and answers were read one after the other, and
    answers arrived between). Read at one moment, every reading agrees."""
    import threading

    from loop.service import reports

    tok = annotator_token(client, ready, "fast")
    done = threading.Event()
    seen: list[tuple[int, int]] = []

    def read() -> None:
        while not done.is_set():
            m = reports.metrics(store, ready)
            s = reports.summary(store, ready)
            seen.extend([(m["n_gold"], m["n_answers"]), (s["n_gold"], s["n_answers"])])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(25):
            got = _next(client, ready, tok)
            assert _answer(client, ready, tok, got).status_code == 200
    finally:
        done.set()
        reader.join()
    assert seen and all(g == a for g, a in seen), [x for x in seen if x[0] != x[1]][:5]
    assert reports.metrics(store, ready)["n_gold"] == 25


def test_the_export_says_which_answers_are_random_gold(client, store, ready):
    """Service trial: the export held every answer but not which were exploration
    picks, the random gold that alone re-estimates LF precisions, so the library
    refitted on the export's answers could not fit the service's label model (on
    youtube after 344 answers, 15 to 69 labels differed as one guessed)."""
    from loop.core.step import fit_label_model
    from loop.service.state import State

    labels = {"ham": 0, "spam": 1}
    reasons = []
    for _ in range(12):
        got = store.lease_next_full(ready, "f", ttl=60)
        reasons.append(got["reason"])
        queue.answer(store, ready, "f", got["item_id"], "spam" if len(reasons) % 3 else "ham",
                     got["lease_id"])
    assert "exploration" in reasons and set(reasons) != {"exploration"}
    rows = [json.loads(s) for s in client.get(
        f"/api/projects/{ready}/export?format=jsonl", headers=auth()).data.splitlines()]
    assert [r["id"] for r in rows] == store.item_ids(ready)
    st = State(store, ready)
    y = np.array([labels[r["gold"]] if r["gold"] and not r["held_out"] else -1 for r in rows])
    random = np.array([r["random_gold"] for r in rows])
    assert np.array_equal(y, st.y) and np.array_equal(random, st.random_gold)
    assert random.sum() == reasons.count("exploration") and not random[y < 0].any()
    models.recalibrate(store, ready, 30)
    lm = fit_label_model(st.L, y, random, n_classes=2).predict_proba(st.L)
    assert np.abs(lm - store.load_proba(ready, "label_model", 2)).max() < 1e-9
    table = list(csv.reader(io.StringIO(client.get(
        f"/api/projects/{ready}/export?format=csv", headers=auth()).data.decode())))
    at = table[0].index("random_gold")
    assert sum(t[at] == "True" for t in table[1:]) == random.sum()


def test_copies_told_from_rows_another_ranking_replaced_are_told_again_from_the_set(
        store, project, monkeypatch):
    """A ranking sends only the copies that changed since the last ranking's rows; one
    whose read of those rows another ranking overtook is compared with the copies set
    itself, so the set and the rows never drift apart."""
    ids = [f"i{n}" for n in range(8)]
    store.r.rpush(store._k(project, "ids"), *ids)
    store.r.sadd(store._k(project, "pool"), *ids)
    assert store.replace_queue(project, [], 1, copies=[1, 2])
    assert store.r.smembers(store._k(project, "copies")) == {b"i1", b"i2"}
    stale = store.read_at_once(lambda p: (p.get(store._k(project, "copies", "gen")),
                                          p.get(store._k(project, "copies", "rows"))))
    assert store.replace_queue(project, [], 2, copies=[2, 3])  # another ranking
    monkeypatch.setattr(store, "read_at_once", lambda reads: stale)  # read before it
    assert store.replace_queue(project, [], 3, copies=[2, 5])
    assert store.r.smembers(store._k(project, "copies")) == {b"i2", b"i5"}
    assert store.pool_size(project) == 6 and store.n_copies(project) == 2
    monkeypatch.undo()
    assert not store.replace_queue(project, [], 2, copies=[7])  # older: changes nothing
    assert store.r.smembers(store._k(project, "copies")) == {b"i2", b"i5"}
    assert store.replace_queue(project, [], 4, copies=None)  # no features: they stay
    assert store.n_copies(project) == 2
