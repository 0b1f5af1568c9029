"""One Redis round trip per next and per answer; token cache; the low-water refill."""

from __future__ import annotations

import time

import numpy as np
import pytest
from svc_helpers import annotator_token, answer_n, auth, prepare_project, run_burst

from loop.errors import ItemNotFound, LeaseConflict
from loop.service import queue


@pytest.fixture
def ready(store, client, project):
    return prepare_project(store, client, project, end_model=True)


class Counting:
    """Counts commands sent to Redis (a pipeline or script call counts as one trip)."""

    def __init__(self, r):
        self.r, self.trips = r, 0
        orig = r.execute_command

        def exe(*a, **kw):
            self.trips += 1
            return orig(*a, **kw)

        r.execute_command = exe
        self.orig = orig

    def close(self):
        self.r.execute_command = self.orig


def test_lease_returns_everything_next_needs_in_one_trip(store, ready):
    # warm up: scripts loaded on the server, project and L meta cached in this process
    warm, _ = queue.lease_item(store, ready, "w", 60)
    queue.answer(store, ready, "w", warm["item"]["id"], "ham", warm["lease"]["id"])
    c = Counting(store.r)
    try:
        out, queued = queue.lease_item(store, ready, "a", 60)
        next_trips = c.trips
        item_id, lease_id = out["item"]["id"], out["lease"]["id"]
        c.trips = 0
        queue.answer(store, ready, "a", item_id, "spam", lease_id)
        answer_trips = c.trips
    finally:
        c.close()
    assert next_trips == 1 and answer_trips == 1
    assert queued == 28
    # same payload as reading each part separately
    row = int(store.rows_of(ready, [item_id])[0])
    (item,) = store.items(ready, [item_id])
    assert out["item"]["text"] == item["text"] and out["item"]["fields"] == item["fields"]
    L, meta = store.load_L(ready)
    assert out["item"]["votes"] == [{"lf": n, "label": ["ham", "spam"][v]}
                                    for n, v in zip(meta["lf_names"], L[row], strict=True)
                                    if v >= 0]
    p = store.load_proba(ready, "end_model", 2)[row]
    assert out["item"]["guess"] == {"label": ["ham", "spam"][int(p.argmax())],
                                    "confidence": float(p.max()), "source": "end_model"}


def test_answer_rules(store, ready):
    iid, lid, _ = store.lease_next(ready, "a", 60)
    with pytest.raises(ItemNotFound):
        queue.answer(store, ready, "a", "nope", "ham", lid)
    with pytest.raises(LeaseConflict):
        queue.answer(store, ready, "a", iid, "ham", "forged")
    with pytest.raises(LeaseConflict):  # the lease is a's, not b's
        queue.answer(store, ready, "b", iid, "ham", lid)
    # an expired lease is still accepted while nobody else holds the item
    iid2, lid2, _ = store.lease_next(ready, "b", 0.01)
    time.sleep(0.05)
    assert queue.answer(store, ready, "b", iid2, "ham", lid2)["duplicate"] is False
    assert queue.answer(store, ready, "b", iid2, "ham", lid2)["duplicate"] is True


def test_tokens_are_stored_hashed_and_revocable(store, client, ready):

    tok = annotator_token(client, ready, "x")
    raw = store.r.hgetall("loop:tokens")
    assert tok.encode() not in raw and not any(tok.encode() in v for v in raw.values())
    assert store.annotator_for_token(tok)["name"] == "x"
    # adding the same name again revokes the old token
    tok2 = annotator_token(client, ready, "x")
    store._tokens.clear()
    assert store.annotator_for_token(tok) is None
    assert store.annotator_for_token(tok2)["name"] == "x"
    names = client.get(f"/api/projects/{ready}/annotators", headers=auth()).json
    assert [a["name"] for a in names["annotators"]] == ["x"]
    held = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok2)).json
    r = client.delete(f"/api/projects/{ready}/annotators/x", headers=auth())
    assert r.status_code == 200 and r.json == {"name": "x", "revoked": True}
    store._tokens.clear()
    client.application.extensions["loop"]["store"]._tokens.clear()  # its 2 s cache
    r = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok2))
    assert r.status_code == 401
    assert client.delete(f"/api/projects/{ready}/annotators/x", headers=auth()).status_code == 404
    # the item x held goes back to the queue now, not when the lease expires ...
    assert store.lease_of(ready, held["item"]["id"]) is None
    other = client.post(f"/api/projects/{ready}/queue/next",
                        headers=auth(annotator_token(client, ready, "y"))).json
    assert other["item"]["id"] == held["item"]["id"]
    # ... and x stays listed, as revoked, with their progress; a new token revives x
    rows = {a["name"]: a for a in client.get(f"/api/projects/{ready}/annotators",
                                             headers=auth()).json["annotators"]}
    assert rows["x"]["revoked_at"] is not None and rows["y"]["revoked_at"] is None
    tok3 = annotator_token(client, ready, "x")
    rows = {a["name"]: a for a in client.get(f"/api/projects/{ready}/annotators",
                                             headers=auth()).json["annotators"]}
    assert rows["x"]["revoked_at"] is None
    assert client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok3)).status_code == 200


def test_a_revoked_token_still_cached_takes_no_item_and_stores_no_answer(store, client, ready):
    """Operator's trial: in the moment a revoked token is still cached, it took an
    item that stayed leased to nobody working, and stored answers."""
    tok = annotator_token(client, ready, "x")
    held = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok)).json
    assert client.delete(f"/api/projects/{ready}/annotators/x", headers=auth()).status_code == 200
    assert client.application.extensions["loop"]["store"].annotator_for_token(tok) is not None
    before = store.gold(ready)
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json={
        "item_id": held["item"]["id"], "lease_id": held["lease"]["id"], "label": 1})
    assert r.status_code == 401 and "revoked" in r.json["error"], r.json
    r = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok))
    assert r.status_code == 401 and "revoked" in r.json["error"], r.json
    assert store.gold(ready) == before and store.lease_of(ready, held["item"]["id"]) is None
    assert not store.r.zcard(store._k(ready, "mine", "x"))


def test_a_revoked_or_replaced_token_cannot_undo_change_or_skip(store, client, ready):
    """Operator's trial: 60 answers were undone 80 ms after their annotator was
    revoked; a token replaced by adding its name again kept answering for 2 s."""
    web = client.application.extensions["loop"]["store"]
    tok = annotator_token(client, ready, "x")
    url = f"/api/projects/{ready}/queue"
    got = client.post(f"{url}/next", headers=auth(tok)).json
    assert client.post(f"{url}/answer", headers=auth(tok), json={
        "item_id": got["item"]["id"], "lease_id": got["lease"]["id"], "label": 1}
    ).status_code == 200
    held = client.post(f"{url}/next", headers=auth(tok)).json
    assert client.delete(f"/api/projects/{ready}/annotators/x", headers=auth()).status_code == 200
    assert web.annotator_for_token(tok) is not None  # still cached
    before = (store.gold(ready), store.answers(ready))
    for path, body in (("undo", None), ("relabel", {"item_id": got["item"]["id"], "label": 0}),
                       ("skip", {"item_id": held["item"]["id"],
                                 "lease_id": held["lease"]["id"]})):
        r = client.post(f"{url}/{path}", headers=auth(tok), json=body)
        assert r.status_code == 401 and "revoked" in r.json["error"], (path, r.json)
    assert (store.gold(ready), store.answers(ready)) == before
    # the name added again: its new token works, the old one (cached) does nothing
    new = annotator_token(client, ready, "x")
    assert web.annotator_for_token(tok) is not None
    r = client.post(f"{url}/next", headers=auth(tok))
    assert r.status_code == 401 and "replaced" in r.json["error"], r.json
    r = client.post(f"{url}/next", headers=auth(new))
    assert r.status_code == 200, r.json
    r = client.post(f"{url}/relabel", headers=auth(new),
                    json={"item_id": got["item"]["id"], "label": 0})
    assert r.status_code == 200 and r.json["changed"], r.json
    # an admin acts as "admin", with no token to check
    assert client.post(f"{url}/next", headers=auth()).status_code == 200
    # once the cache lets go, the old token is unknown, and the reply says why it may be
    web._tokens.clear()
    r = client.post(f"{url}/next", headers=auth(tok))
    assert r.status_code == 401 and "revoked or replaced" in r.json["error"], r.json


def test_admin_answers_are_listed_with_the_annotators(client, ready):
    from svc_helpers import ADMIN

    url = f"/api/projects/{ready}/annotators"
    assert [a["name"] for a in client.get(url, headers=auth()).json["annotators"]] == []
    answer_n(client, ready, annotator_token(client, ready, "x"), 2, 0)
    answer_n(client, ready, ADMIN, 3, 1)
    rows = client.get(url, headers=auth()).json["annotators"]
    assert [(a["name"], a["role"], a["answers_total"]) for a in rows] == [
        ("x", "annotator", 2), ("admin", "admin", 3)]
    assert rows[1]["created_at"] is None
    # answered in a burst: well under a second per answer
    assert all(0 <= a["seconds_per_answer"] < 5 for a in rows)


def test_pace_is_the_median_gap_between_answers_without_breaks():
    from loop.service.reports import pace

    assert pace([]) is None and pace([5.0]) is None
    # 10 s, 20 s, 12 s between answers, then an hour's lunch (left out), given unsorted
    assert pace([100.0, 130.0, 110.0, 142.0, 142.0 + 3600]) == 12.0
    assert pace([0.0, 3600.0]) is None


def test_low_water_enqueues_one_refill(app, client, store, rconn, ready):
    from svc_helpers import configure

    from loop.service.tasks import REFILL_GAP

    configure(app, QUEUE_SIZE=30, QUEUE_LOW_WATER=0.5)
    answer_n(client, ready, annotator_token(client, ready, "w"), 20, 0)
    from rq import Queue

    q = Queue("loop", connection=rconn)
    refills = [j for j in q.get_jobs() if j.func_name == "loop.service.tasks.refill_queue"]
    assert len(refills) == 1  # coalesced
    assert store.flag_ttl(ready, "refill_pending") > 30  # until the job starts
    assert store.queue_size(ready) == 10
    run_burst(rconn)  # the refill (30) and the recalibration the answers triggered (60)
    assert store.queue_size(ready) >= 30
    # the next short queue asks again, at most one refill per REFILL_GAP s (one that
    # could not fill the queue was asked for again by every answer)
    assert store.flag_ttl(ready, "refill_pending") <= REFILL_GAP
    gold = set(store.gold(ready))
    queued = set(store.queued_ids(ready))
    assert not queued & gold and not queued & store.eval_ids(ready)


def test_items_the_lfs_have_not_seen_yet_ask_for_no_refill(app, client, store, rconn,
                                                           ready):
    """Fault trial: /next after an upload, before the LFs were applied to the new
    items, enqueued a refill that failed 3 times ("apply the LFs") on the dashboard."""
    from rq import Queue
    from svc_helpers import configure, youtube_csv

    configure(app, QUEUE_SIZE=30, QUEUE_LOW_WATER=0.5)
    r = client.post(f"/api/projects/{ready}/items?id_field=COMMENT_ID",
                    data=youtube_csv(("Youtube02-KatyPerry.csv",)),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    q = Queue("loop", connection=rconn)
    q.empty()
    answer_n(client, ready, annotator_token(client, ready, "w"), 20, 0)
    assert not [j for j in q.get_jobs() if j.func_name.endswith("refill_queue")]


def test_nothing_left_asks_for_no_refill(app, client, store, rconn, ready):
    from rq import Queue

    token = annotator_token(client, ready, "last")
    answer_n(client, ready, token, store.pool_size(ready), 0)  # everything answered
    q = Queue("loop", connection=rconn)
    q.empty()
    for _ in range(3):  # an idle page keeps asking
        store.clear_flag(ready, "refill_pending")
        r = client.post(f"/api/projects/{ready}/queue/next", headers=auth(token))
        assert r.status_code == 204
    assert not [j for j in q.get_jobs() if j.func_name.endswith("refill_queue")]


def test_ranking_subsample_and_cached_features(store, ready, monkeypatch):
    from loop.core import step
    from loop.service import models

    x = store.lease_next(ready, "z", 60)
    monkeypatch.setattr(step, "RANK_MAX_ROWS", 50)
    monkeypatch.setattr(step.rank, "__defaults__", (None, None, None, None, 50, 0))
    assert models.refill(store, ready, 20)["queue_size"] == 20
    queued = set(store.queued_ids(ready))
    assert x[0] not in queued and not queued & store.eval_ids(ready)
    calls = []
    real = models.make_text_features
    monkeypatch.setattr(models, "make_text_features", lambda *a: calls.append(1) or real(*a))
    out = models.retrain_end_model(store, ready, 20)
    assert calls == []  # features built once (by the fixture), then read from Redis
    assert out["end_model"] is not None
    assert np.isfinite(store.load_proba(ready, "end_model", 2)).all()
    # upgrade trial: features another version of the code built (words only, another
    # vocabulary) were kept until an upload changed the item count
    import scipy.sparse as sp

    n = store.n_items(ready)
    store.save_features(ready, str(n), sp.csr_matrix(np.ones((n, 3))))  # as versions before
    models.retrain_end_model(store, ready, 20)
    assert calls == [1]
    assert store.load_features(ready, str(n)) is None  # replaced, under this version


def test_the_refill_check_of_next_is_one_round_trip(store, ready, monkeypatch):
    """Load profile: while a short queue waited for its refill, every /next read the
    label model, the L meta and the item count and tried the flag: four round trips,
    a third of the web workers' time. The check is one pipeline."""
    assert store.refill_possible(ready)
    sent = []
    real = type(store.r).pipeline

    def counting(self, *a, **kw):
        sent.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(type(store.r), "pipeline", counting)
    for name in ("get", "llen", "exists", "set"):  # no single commands
        monkeypatch.setattr(store.r, name, lambda *a, _n=name, **kw: pytest.fail(_n))
    assert store.refill_possible(ready) and len(sent) == 1
    monkeypatch.undo()
    store.set_flag(ready, "refill_pending", 60)
    assert not store.refill_possible(ready)  # asked for already
