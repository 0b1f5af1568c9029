"""Lease renewal (``/queue/renew``, ``lua/renew.lua``): a page keeps the items it
shows while its annotator is there, and a renewal never brings back or adds a lease."""

from __future__ import annotations

import hashlib
import time

import pytest
from svc_helpers import ADMIN, annotator_token, auth, prepare_project

from loop.errors import Unauthorized
from loop.service import queue


@pytest.fixture
def ready(store, client, project):
    """A project with items, L, a label model and a queue of 30 (built in-process)."""
    return prepare_project(store, client, project)


def _renew(client, pid, token, *held, body=None):
    """POST /queue/renew of leases ``held`` (``(item_id, lease_id)``)."""
    return client.post(f"/api/projects/{pid}/queue/renew", headers=auth(token), json=(
        {"leases": [{"item_id": i, "lease_id": lid} for i, lid in held]}
        if body is None else body))


def _expiries(store, pid):
    """Every lease's expiry and record, as stored."""
    return (store.r.zrange(store._k(pid, "leasez"), 0, -1, withscores=True),
            store.r.hgetall(store._k(pid, "leaseh")))


def test_a_renewed_lease_outlives_its_first_expiry_and_its_answer_is_stored(
        client, store, ready):
    """An expert reading a long item past the lease: renewed while they read, the
    item stays theirs (the next annotator is not given it, as they were once it
    expired) and the answer is stored."""
    tok = annotator_token(client, ready, "ann")
    iid, lid, first = store.lease_next(ready, "ann", ttl=0.5)
    t0 = time.time()
    r = _renew(client, ready, tok, (iid, lid))
    assert r.status_code == 200, r.json
    assert r.json["not_renewed"] == [] and r.json["lease_seconds"] == 300
    [got] = r.json["renewed"]
    assert got["item_id"] == iid and t0 + 299 < got["expires_at"] < time.time() + 301
    lease = store.lease_of(ready, iid)
    assert lease["id"] == lid and lease["annotator"] == "ann"
    assert lease["expires_at"] == pytest.approx(got["expires_at"])
    assert store.r.zscore(store._k(ready, "mine", "ann"), iid) == pytest.approx(
        got["expires_at"])
    time.sleep(0.6)  # past the first expiry: without the renewal the item is the next
    other = store.lease_next(ready, "bob", ttl=60)  # one handed out (test_queue's expiry)
    assert other[0] != iid
    assert queue.answer(store, ready, "ann", iid, "spam", lid)["duplicate"] is False
    assert store.gold(ready)[iid]["label"] == 1


def test_a_renewal_refuses_expired_answered_released_skipped_and_others_leases(
        client, store, ready):
    """Only a lease live now is extended: never one that expired (not even when nobody
    took the item since), was answered, released, skipped, is another's or is not the
    lease given; each says why, and nothing of them changes."""
    ann, bob = annotator_token(client, ready, "ann"), annotator_token(client, ready, "bob")
    gone = store.lease_next(ready, "ann", ttl=0.3)
    time.sleep(0.4)
    # (listed as shown: ann's /next would give the expired lease back first)
    x = store.lease_next_full(ready, "ann", 60, shown=[gone[0]])
    answered = (x["item_id"], x["lease_id"])
    queue.answer(store, ready, "ann", answered[0], "ham", answered[1])
    released = store.lease_next_full(ready, "ann", 60, shown=[gone[0]])
    queue.release(store, ready, "ann", [{"item_id": released["item_id"],
                                         "lease_id": released["lease_id"]}])
    skipped = store.lease_next_full(ready, "ann", 60, shown=[gone[0], released["item_id"]])
    queue.skip(store, ready, "ann", skipped["item_id"], skipped["lease_id"])
    x = store.lease_next_full(ready, "bob", 60, shown=[  # not those back in the queue
        gone[0], released["item_id"], skipped["item_id"]])
    bobs = (x["item_id"], x["lease_id"])
    live = store.lease_next_full(ready, "ann", 60, shown=[gone[0], released["item_id"]])
    before = _expiries(store, ready)
    r = _renew(client, ready, ann, gone[:2], answered[:2],
               (released["item_id"], released["lease_id"]),
               (skipped["item_id"], skipped["lease_id"]), bobs[:2],
               (live["item_id"], "not-the-lease-id"))
    assert r.status_code == 200, r.json
    assert r.json["renewed"] == []
    assert r.json["not_renewed"] == [
        {"item_id": gone[0], "reason": "expired"},
        {"item_id": answered[0], "reason": "answered"},
        {"item_id": released["item_id"], "reason": "not_held"},
        {"item_id": skipped["item_id"], "reason": "not_held"},
        {"item_id": bobs[0], "reason": "taken"},
        {"item_id": live["item_id"], "reason": "not_held"}]
    assert _expiries(store, ready) == before
    assert store.lease_of(ready, gone[0]) is None  # not brought back
    # bob cannot renew ann's lease either, and his own renews
    r = _renew(client, ready, bob, (live["item_id"], live["lease_id"]), bobs[:2])
    assert r.json["not_renewed"] == [{"item_id": live["item_id"], "reason": "taken"}]
    assert [x["item_id"] for x in r.json["renewed"]] == [bobs[0]]
    # the expired item went back to the queue: the next annotator may get it
    assert store.lease_next(ready, "cy", ttl=60)[0] == gone[0]
    r = _renew(client, ready, ann, gone[:2])
    assert r.json["not_renewed"] == [{"item_id": gone[0], "reason": "taken"}]


def test_a_revoked_token_renews_nothing(client, store, ready):
    """A revoked token's renewal is a 401; the script itself checks the token, so a
    token cached for a moment in a web process renews nothing once it is replaced."""
    tok = annotator_token(client, ready, "ann")
    iid, lid, _ = store.lease_next(ready, "ann", ttl=60)
    before = _expiries(store, ready)
    with pytest.raises(Unauthorized):
        store.renew_leases(ready, "ann", [(iid, lid)], 300,
                           token=hashlib.sha256(b"an old token").hexdigest())
    assert _expiries(store, ready) == before
    assert client.delete(f"/api/projects/{ready}/annotators/ann",
                         headers=auth()).status_code == 200
    assert _renew(client, ready, tok, (iid, lid)).status_code == 401
    assert store.lease_of(ready, iid) is None  # the revocation gave it back


def test_bad_renewals_are_400s_that_change_nothing(client, store, ready):
    tok = annotator_token(client, ready, "ann")
    a = store.lease_next_full(ready, "ann", 60)
    b = store.lease_next_full(ready, "ann", 60, shown=[a["item_id"]])
    held = [{"item_id": x["item_id"], "lease_id": x["lease_id"]} for x in (a, b)]
    before = _expiries(store, ready)
    for bad in ({}, {"leases": []}, {"leases": "x"}, {"leases": [held[0], "x"]},
                {"leases": [{"item_id": a["item_id"]}]},
                {"leases": [{"item_id": 3, "lease_id": "y"}]},
                {"leases": [{**held[0], "label": "spam"}]},
                {"leases": held * 11}, {"leases": held, "page": "p"}, [held]):
        r = _renew(client, ready, tok, body=bad)
        assert r.status_code == 400 and r.json["error"], (bad, r.json)
    assert _expiries(store, ready) == before
    assert client.post(f"/api/projects/{ready}/queue/renew", json={"leases": held}
                       ).status_code == 401
    assert _expiries(store, ready) == before


def test_a_token_of_another_project_renews_nothing_as_it_releases_nothing(
        client, store, ready):
    tok = annotator_token(client, ready, "ann")
    a = store.lease_next_full(ready, "ann", 60)
    held = {"leases": [{"item_id": a["item_id"], "lease_id": a["lease_id"]}]}
    r = client.post("/api/projects", headers=auth(ADMIN), json={
        "name": "other", "labels": ["x", "y"]})
    stranger = annotator_token(client, r.json["id"], "ann")
    before = _expiries(store, ready)
    renewed = _renew(client, ready, stranger, body=held)
    released = client.post(f"/api/projects/{ready}/queue/release", headers=auth(stranger),
                           json=held)
    assert renewed.status_code == released.status_code == 403, (renewed.json, released.json)
    assert _expiries(store, ready) == before
    assert _renew(client, ready, tok, body=held).status_code == 200


def test_a_renewal_never_adds_a_lease(client, store, ready):
    """A page holds 21 leases at most (``/next`` lists 20 it shows and leases one
    more); a renewal names 21 at most and extends only leases held now, so one token
    never holds more than ``/next`` leased it."""
    tok = annotator_token(client, ready, "ann")
    shown: list[str] = []
    held = []
    for _ in range(21):
        x = store.lease_next_full(ready, "ann", 60, shown=shown[-20:])
        shown.append(x["item_id"])
        held.append((x["item_id"], x["lease_id"]))
    assert store.n_leased(ready) == 21
    queued = store.queued_ids(ready)[:3]
    r = _renew(client, ready, tok, *held[:18], *((i, "made-up") for i in queued))
    assert r.status_code == 200
    assert len(r.json["renewed"]) == 18
    assert r.json["not_renewed"] == [{"item_id": i, "reason": "not_held"} for i in queued]
    assert store.n_leased(ready) == 21 and store.queued_ids(ready)[:3] == queued
    assert _renew(client, ready, tok, *held, held[0]).status_code == 400  # 22


def test_several_answers_an_item_the_one_who_holds_it_renews_it(client, store):
    """answers_per_item 2: after ann's answer the item goes to bob; bob's renewals keep
    it his (cy is not given it), ann's old lease renews nothing (answered), and once
    the admin settles it bob's renewal says so (settled)."""
    r = client.post("/api/projects", headers=auth(), json={
        "name": "yt", "labels": ["ham", "spam"], "lf_module": "lfs_youtube",
        "text_field": "CONTENT", "answers_per_item": 2})
    pid = prepare_project(store, client, r.json["id"])
    ann, bob = annotator_token(client, pid, "ann"), annotator_token(client, pid, "bob")
    iid, lid, _ = store.lease_next(pid, "ann", ttl=60)
    queue.answer(store, pid, "ann", iid, "spam", lid)
    got = store.lease_next(pid, "bob", ttl=0.5)
    assert got[0] == iid  # the answered item is on top of the queue again
    assert _renew(client, pid, bob, got[:2]).json["renewed"][0]["item_id"] == iid
    assert _renew(client, pid, ann, (iid, lid)).json["not_renewed"] == [
        {"item_id": iid, "reason": "answered"}]
    time.sleep(0.6)
    assert store.lease_next(pid, "cy", ttl=60)[0] != iid
    client.post(f"/api/projects/{pid}/resolve", headers=auth(),
                json={"item_id": iid, "label": "ham"})
    assert _renew(client, pid, bob, got[:2]).json["not_renewed"] == [
        {"item_id": iid, "reason": "settled"}]
