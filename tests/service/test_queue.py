"""Expert queue: leases, expiry, double submission, concurrency, skip, undo, export."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from svc_helpers import annotator_token, auth, lease_concurrently, prepare_project

from loop import services
from loop.errors import LeaseConflict, UnknownLabel


@pytest.fixture
def ready(store, client, project):
    """A project with items, L, a label model and a filled queue (built in-process)."""
    return prepare_project(store, client, project)


def _next(client, pid, token):
    r = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token))
    return None if r.status_code == 204 else r.json


def test_next_answer_and_me(client, ready):
    tok = annotator_token(client, ready, "alice")
    got = _next(client, ready, tok)
    item, lease = got["item"], got["lease"]
    assert item["reason"] in ("lfs_conflict", "no_lf_fired", "model_uncertain")
    assert {"id", "text", "fields", "votes", "guess"} <= set(item)
    assert item["guess"]["label"] in ("ham", "spam")
    r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok),
                    json={"item_id": item["id"], "label": "spam", "lease_id": lease["id"]})
    assert r.status_code == 200 and r.json == {"stored": True, "duplicate": False}
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert me["answers_total"] == 1 and me["answers_today"] == 1
    assert me["history"] == [item["id"]] and me["remaining"] == 29


def test_double_submission_is_stored_once(client, store, ready):
    tok = annotator_token(client, ready, "bob")
    got = _next(client, ready, tok)
    body = {"item_id": got["item"]["id"], "label": 1, "lease_id": got["lease"]["id"]}
    r1 = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json=body)
    r2 = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json=body)
    assert r1.json["duplicate"] is False and r2.json["duplicate"] is True
    assert len(store.gold(ready)) == 1
    assert [e["event"] for e in store.answer_log(ready)] == ["answer"]
    assert client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json[
        "answers_total"] == 1


def test_unknown_label_and_bad_lease_change_nothing(client, store, ready):
    tok = annotator_token(client, ready, "carol")
    got = _next(client, ready, tok)
    iid, lid = got["item"]["id"], got["lease"]["id"]
    for body, code in [({"item_id": iid, "label": "eggs", "lease_id": lid}, 400),
                       ({"item_id": iid, "label": 5, "lease_id": lid}, 400),
                       ({"item_id": iid, "label": True, "lease_id": lid}, 400),
                       ({"item_id": iid, "label": "ham", "lease_id": "forged"}, 409),
                       ({"item_id": "nope", "label": "ham", "lease_id": lid}, 404),
                       ({"item_id": iid, "label": "ham"}, 400)]:
        r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json=body)
        assert r.status_code == code, body
        assert r.json["error"]
    assert store.gold(ready) == {} and store.answer_log(ready) == []


def test_lease_expiry_returns_the_item(store, ready):
    first = store.lease_next(ready, "a", ttl=0.3)
    second = store.lease_next(ready, "b", ttl=60)
    assert first[0] != second[0]
    time.sleep(0.4)
    again = store.lease_next(ready, "c", ttl=60)
    assert again[0] == first[0]  # expired lease back on top of the queue
    with pytest.raises(LeaseConflict):
        services.answer(store, ready, "a", first[0], "ham", first[1])
    assert services.answer(store, ready, "c", again[0], "ham", again[1])["duplicate"] is False


def test_concurrent_annotators_never_share_an_item(redis_server, store, ready):
    from loop.storage import RedisStore

    got = lease_concurrently(lambda: RedisStore(redis_server.client), ready, 8, ttl=60)
    assert len(got) == 30 and len(set(got)) == 30


def test_skip_and_undo(client, store, ready):
    tok = annotator_token(client, ready, "dan")
    a = _next(client, ready, tok)
    r = client.post(f"/api/projects/{ready}/queue/skip", headers=auth(tok),
                    json={"item_id": a["item"]["id"], "lease_id": a["lease"]["id"]})
    assert r.status_code == 200
    b = _next(client, ready, tok)
    assert b["item"]["id"] != a["item"]["id"]  # never offered a skipped item again
    other = store.lease_next(ready, "erin", ttl=60)
    assert other[0] == a["item"]["id"]  # but others get it
    client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json={
        "item_id": b["item"]["id"], "label": "ham", "lease_id": b["lease"]["id"]})
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert (me["answers_today"], me["answers_total"]) == (1, 1)
    r = client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok))
    assert r.json == {"item_id": b["item"]["id"]}
    assert store.gold(ready) == {}
    me = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json
    assert (me["answers_today"], me["answers_total"]) == (0, 0)
    c = _next(client, ready, tok)
    assert c["item"]["id"] == b["item"]["id"]  # undone item comes back first
    assert client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok)).status_code == 400


def test_export_and_lf_stats(client, store, ready):
    x = store.lease_next(ready, "f", ttl=60)
    services.answer(store, ready, "f", x[0], "spam", x[1])
    csv_r = client.get(f"/api/projects/{ready}/export?format=csv", headers=auth())
    assert csv_r.status_code == 200 and csv_r.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(csv_r.data.decode())))
    assert table[0] == ["id", "text", "p_ham", "p_spam", "label", "gold", "source"]
    assert len(table) == 351
    rows = [json.loads(s) for s in client.get(
        f"/api/projects/{ready}/export?format=jsonl", headers=auth()).data.splitlines()]
    gold = [r for r in rows if r["source"] == "gold"]
    assert [(g["id"], g["gold"], g["label"]) for g in gold] == [(x[0], "spam", "spam")]
    # Each row carries its item's text (CSV and JSON lines alike), so the export
    # alone is a training set.
    texts = {it["id"]: it["text"] for it in store.items(ready)}
    assert all(r["text"] == texts[r["id"]] for r in rows)
    assert {r[0]: r[1] for r in table[1:]} == texts
    lfs = client.get(f"/api/projects/{ready}/lfs", headers=auth()).json["lfs"]
    assert [r["name"] for r in lfs][:2] == ["check_out", "subscribe"]
    assert lfs[0]["polarity"] == ["spam"] and lfs[0]["empirical_accuracy"] is not None
    assert {"coverage", "overlaps", "conflicts", "correct", "incorrect", "learned_accuracy",
            "errors", "error_example"} <= set(lfs[0])


def test_parse_label():
    assert services.parse_label(["a", "b"], "b") == 1
    with pytest.raises(UnknownLabel):
        services.parse_label(["a", "b"], 2)


def test_exploration_picks_are_marked_and_only_their_answers_are_random_gold(
    store, client, ready, monkeypatch
):
    """A share of every refill is drawn at random ("exploration"); only answers to
    those items may re-estimate LF precisions in the label model."""
    from loop.core.label_model import LabelModel

    audit = store.audit_ids(ready)
    assert audit, "the refill drew no random picks"
    queued = [x.decode() for x in store.r.zrange(store._k(ready, "queue"), 0, -1)]
    assert {store.reason(ready, i) for i in audit if i in queued} == {"exploration"}
    explored = next(i for i in queued if i in audit)
    picked = next(i for i in queued if i not in audit)
    for item_id in (explored, picked):
        while True:  # walk the queue to the item (skipped items go to others)
            got = store.lease_next(ready, "expert", ttl=60)
            if got[0] == item_id:
                break
            store.skip(ready, "expert", got[0], got[1])
        services.answer(store, ready, "expert", item_id, "spam", got[1])

    seen = {}
    real_fit = LabelModel.fit

    def spy(self, L, y=None, random_gold=None):
        seen["y"], seen["random_gold"] = y, random_gold
        return real_fit(self, L, y, random_gold=random_gold)

    monkeypatch.setattr(LabelModel, "fit", spy)
    services.fit_label_model(store, ready)
    ids = store.item_ids(ready)
    gold_rows = {ids[r] for r in (seen["y"] >= 0).nonzero()[0]}
    random_rows = {ids[r] for r in seen["random_gold"].nonzero()[0]}
    assert {explored, picked} <= gold_rows
    assert explored in random_rows and picked not in random_rows
