"""Fewer round trips, queue refill, split recalibration, exclusive runs, caches."""

from __future__ import annotations

import numpy as np
import pytest
from svc_helpers import annotator_token, answer_n, prepare_project, run_burst

from loop import services, tasks
from loop.errors import ItemNotFound, LeaseConflict


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
    warm, _ = services.lease_item(store, ready, "w", 60)
    services.answer(store, ready, "w", warm["item"]["id"], "ham", warm["lease"]["id"])
    c = Counting(store.r)
    try:
        out, remaining = services.lease_item(store, ready, "a", 60)
        next_trips = c.trips
        item_id, lease_id = out["item"]["id"], out["lease"]["id"]
        c.trips = 0
        services.answer(store, ready, "a", item_id, "spam", lease_id)
        answer_trips = c.trips
    finally:
        c.close()
    assert next_trips == 1 and answer_trips == 1
    assert remaining == 28
    # same payload as reading each part separately
    row = store.row_of(ready, item_id)
    (item,) = store.items(ready, [item_id])
    assert out["item"]["text"] == item["text"] and out["item"]["fields"] == item["fields"]
    L_row = store.L_row(ready, row)
    names = store.L_meta(ready)["lf_names"]
    assert out["item"]["votes"] == [{"lf": n, "label": ["ham", "spam"][v]}
                                    for n, v in zip(names, L_row, strict=True) if v >= 0]
    p = store.proba_row(ready, "end_model", row, 2)
    assert out["item"]["guess"] == {"label": ["ham", "spam"][int(p.argmax())],
                                    "confidence": float(p.max()), "source": "end_model"}


def test_answer_rules_unchanged(store, ready):
    iid, lid, _ = store.lease_next(ready, "a", 60)
    with pytest.raises(ItemNotFound):
        services.answer(store, ready, "a", "nope", "ham", lid)
    with pytest.raises(LeaseConflict):
        services.answer(store, ready, "a", iid, "ham", "forged")
    # an expired lease is still accepted while nobody else holds the item
    iid2, lid2, _ = store.lease_next(ready, "b", 0.01)
    import time

    time.sleep(0.05)
    assert services.answer(store, ready, "b", iid2, "ham", lid2)["duplicate"] is False
    assert services.answer(store, ready, "b", iid2, "ham", lid2)["duplicate"] is True


def test_token_lookups_are_cached_briefly(store, client, ready):
    tok = annotator_token(client, ready, "x")
    assert store.annotator_for_token(tok)["name"] == "x"
    store.r.hdel("loop:tokens", tok)  # revoked by hand
    assert store.annotator_for_token(tok)["name"] == "x"  # cached up to 30 s
    store._tokens.clear()
    assert store.annotator_for_token(tok) is None


def test_low_water_enqueues_one_refill(app, client, store, rconn, ready):
    app.config.update(QUEUE_SIZE=30, QUEUE_LOW_WATER=0.5)
    answer_n(client, ready, annotator_token(client, ready, "w"), 20, 0)
    from rq import Queue

    q = Queue("loop", connection=rconn)
    refills = [j for j in q.get_jobs() if j.func_name == "workers.jobs.refill_auto"]
    assert len(refills) == 1  # coalesced
    assert store.queue_size(ready) == 10
    run_burst(rconn)
    assert store.queue_size(ready) == 30
    gold = set(store.gold(ready))
    queued = {x.decode() for x in rconn.zrange(store._k(ready, "queue"), 0, -1)}
    assert not queued & gold and not queued & store.eval_ids(ready)


def test_auto_recalibration_is_split_and_exclusive(client, store, rconn, ready):
    answer_n(client, ready, annotator_token(client, ready, "r"), 10, 1)
    # a recalibration is "running" elsewhere: this one steps aside and asks for a rerun
    assert store.set_flag(ready, "recal_running", 60)
    run_burst(rconn)
    jobs = [tasks.job_status(rconn, j) for j in store.recent_jobs(ready)]
    recal = [j for j in jobs if j["type"] == "recalibrate"]
    assert len(recal) == 1 and recal[0]["result"]["skipped"] is True
    assert store.metrics_history(ready) == []
    assert store.r.exists(store._k(ready, "flag", "recal_rerun"))
    # when the running one ends it enqueues the rerun (what workers.jobs passes as again)
    from rq import Queue

    q = Queue("loop", connection=rconn)
    ran = []
    out = tasks.run_exclusive(store, ready, "recal", lambda: {}, lambda: ran.append(1))
    assert out["skipped"] is True and ran == []  # still held by the "other" run
    store.clear_flag(ready, "recal_running")
    tasks.run_exclusive(store, ready, "recal", lambda: {}, lambda: tasks._enqueue_recal(
        q, store, ready, 60, meta={"type": "recalibrate", "project": ready}))
    assert not store.r.exists(store._k(ready, "flag", "recal_running"))
    # the rerun is the real fast path; it enqueues the end-model job, which updates the metric
    run_burst(rconn)
    jobs = [tasks.job_status(rconn, j) for j in store.recent_jobs(ready)]
    assert [j["type"] for j in jobs[:2]] == ["train_end_model", "recalibrate"]
    assert all(j["status"] == "finished" for j in jobs[:2])
    assert jobs[1]["result"]["n_gold"] == 10
    hist = store.metrics_history(ready)
    assert len(hist) == 1 and hist[0]["end_model"] == jobs[0]["result"]["end_model"]


def test_ranking_subsample_and_cached_features(store, ready, monkeypatch):
    st = services.State(store, ready)
    x = store.lease_next(ready, "z", 60)
    out = services.refill_queue(store, ready, 20, max_rows=50)
    assert out["queue_size"] == 20
    queued = {v.decode() for v in store.r.zrange(store._k(ready, "queue"), 0, -1)}
    assert x[0] not in queued and not queued & store.eval_ids(ready)
    assert (st.y >= 0).sum() == 0
    calls = []
    real = services.make_text_features
    monkeypatch.setattr(services, "make_text_features",
                        lambda *a: calls.append(1) or real(*a))
    a = services.train_end_model(store, ready)
    b = services.train_end_model(store, ready, max_rows=40)
    assert calls == []  # features built once (by the fixture), then read from Redis
    assert a["end_model"] is not None and b["end_model"] is not None
    assert np.isfinite(store.load_proba(ready, "end_model", 2)).all()
