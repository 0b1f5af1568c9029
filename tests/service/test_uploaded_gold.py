"""Gold labels that come with an upload: a held-out share scores the models, the
rest is fitted on like an expert's answers (and never queued)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from svc_helpers import apply_lfs_in_process, auth, youtube_csv

from loop.service import models
from loop.service.state import State


def _upload(client, pid, query):
    return client.post(f"/api/projects/{pid}/items?id_field=COMMENT_ID&gold_field=CLASS{query}",
                       data=youtube_csv(), headers={**auth(), "Content-Type": "text/csv"})


def test_uploaded_gold_outside_the_hold_out_is_fitted_on_and_never_queued(client, store,
                                                                          project):
    r = _upload(client, project, "&eval_fraction=0.4")
    assert r.status_code == 201, r.json
    assert (r.json["n_gold"], r.json["n_eval"], r.json["n_fit_gold"]) == (350, 140, 210)
    # the CLASS column's 0 and 1 are class indices: which class each became is said
    truth = [int(row["CLASS"]) for row in csv.DictReader(io.StringIO(youtube_csv().decode()))]
    assert r.json["gold_counts"] == {"ham": truth.count(0), "spam": truth.count(1)}
    assert r.json["gold_by_index"] == 350
    apply_lfs_in_process(store, project)

    st = State(store, project)
    assert int((st.y >= 0).sum()) == 210 and int(st.random_gold.sum()) == 210
    held_out = store.eval_ids(project)
    fitted = set(store.ids_at(project, np.flatnonzero(st.y >= 0)))
    assert not fitted & held_out and len(fitted | held_out) == 350

    fit = models.recalibrate(store, project, 500)
    assert fit["n_gold"] == 210 and fit["label_model"] is not None
    # Uploaded gold is a sample no sampler picked, so it re-estimates each LF's
    # precision (without gold every one-sided LF gets the same prior).
    lfs = client.get(f"/api/projects/{project}/lfs", headers=auth()).json["lfs"]
    learned = {round(lf["learned_accuracy"], 6) for lf in lfs}
    assert len(learned) > 1
    # ... and the LF table scores each LF against every uploaded label not held out
    # (the held-out ones score the models: LFs tuned on them would flatter that score)
    L = store.load_L(project)[0]
    assert sum(lf["correct"] + lf["incorrect"] for lf in lfs) == int((L[st.y >= 0] >= 0).sum())

    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert (m["n_gold"], m["n_uploaded_gold"], m["n_eval"]) == (0, 210, 140)
    assert m["queue_size"] == 0 and m["remaining"] == 0  # every item is known
    # the class balance counts the uploaded labels fitted on (new-user trial: "No
    # labels yet" beside them), kept as uploads come; counted again if they were not
    fit_labels = [int(row["CLASS"]) for row in csv.DictReader(io.StringIO(
        youtube_csv().decode())) if row["COMMENT_ID"] not in held_out]
    want = {"ham": fit_labels.count(0), "spam": fit_labels.count(1)}
    assert m["class_balance"] == want and sum(want.values()) == 210
    store.r.delete(store._k(project, "ugold_counts"))  # a project from before
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert m["class_balance"] == want

    rows = [json.loads(s) for s in client.get(
        f"/api/projects/{project}/export?format=jsonl", headers=auth()).data.splitlines()]
    assert {r["source"] for r in rows} == {"uploaded"}
    assert all(r["gold"] == r["label"] and r[f"p_{r['gold']}"] == 1.0 for r in rows)
    # which rows score the models, and nobody answered them; the id column is the id
    assert {r["id"] for r in rows if r["held_out"]} == held_out
    assert all(r["annotator"] is None and "COMMENT_ID" not in r["fields"] for r in rows)
    table = list(csv.DictReader(io.StringIO(client.get(
        f"/api/projects/{project}/export?format=csv", headers=auth()).data.decode())))
    assert {r["id"] for r in table if r["held_out"] == "True"} == held_out
    assert {r["annotator"] for r in table} == {""}


def test_items_without_gold_are_queued_beside_fitted_uploaded_gold(client, store, project):
    data = youtube_csv().decode().splitlines(keepends=True)
    head, body = data[0], data[1:]
    # Blank CLASS (the last column) on every other row: those go up unlabeled.
    body = [row if i % 2 else row[: row.rstrip("\r\n").rfind(",") + 1] + "\n"
            for i, row in enumerate(body)]
    r = client.post(f"/api/projects/{project}/items?id_field=COMMENT_ID&gold_field=CLASS",
                    data=(head + "".join(body)).encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    assert r.json["n_gold"] == 175 and r.json["n_eval"] == 52  # default share 0.3
    apply_lfs_in_process(store, project)
    assert models.recalibrate(store, project, 500)["queue_size"] == 175
    assert int((State(store, project).y >= 0).sum()) == 175 - 52
    known = set(store.uploaded_gold(project))
    leased: list[str] = []
    while (x := store.lease_next_full(project, "a", 60, shown=leased)) is not None:
        leased.append(x["item_id"])
    assert len(leased) == 175 and not set(leased) & known


def test_bad_eval_fraction_is_a_400_and_changes_nothing(client, project, rconn):
    before = sorted(rconn.keys("*"))
    for q in ("&eval_fraction=abc", "&eval_fraction=1.5", "&eval_fraction=-0.1"):
        r = _upload(client, project, q)
        assert r.status_code == 400 and "eval_fraction" in r.json["error"], q
    assert sorted(rconn.keys("*")) == before


def test_a_text_is_held_out_whole_or_not_at_all(client, store, project):
    """A text uploaded several times (sms spam sent to many people) was split at
    random: held out once and fitted on twice, the held-out score read what the
    models were taught."""
    rows = [(f"i{i}", "WIN a prize, call now" if i % 3 == 0 else f"note {i}",
             "spam" if i % 3 == 0 else "ham") for i in range(90)]
    buf = io.StringIO()
    csv.writer(buf).writerows([("id", "CONTENT", "label"), *rows])
    url = f"/api/projects/{project}/items?id_field=id&gold_field=label&eval_fraction=0.3"
    r = client.post(url, data=buf.getvalue().encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    held = store.eval_ids(project)
    texts = {i["id"]: i["text"] for i in store.items(project)}
    repeated = {iid for iid, t in texts.items() if t.startswith("WIN")}
    assert repeated <= held or not repeated & held  # all 30 copies on one side
    assert 27 <= len(held) <= 57 and r.json["n_eval"] == len(held)


def test_held_out_is_a_plain_sample_when_every_text_is_new():
    import random

    from loop.service.items import held_out

    items = [{"id": str(i), "text": f"t{i}", "fields": {}} for i in range(10)]
    gold = {str(i): i % 2 for i in range(10)}
    assert held_out(items, gold, 0.3, "s") == random.Random("s").sample(sorted(gold), 3)


def _truth():
    return {r["COMMENT_ID"]: ["ham", "spam"][int(r["CLASS"])]
            for r in csv.DictReader(io.StringIO(youtube_csv().decode()))}


def test_known_labels_for_stored_items_are_held_out_in_part_and_never_asked(
        client, store, project):
    """Labels that come after the items (a colleague's spreadsheet): there was no
    way to add them but to answer item by item. A share is held out as an
    upload's; an answered item keeps its answer; a leased one's lease ends."""
    import pytest

    from loop.errors import LeaseConflict

    r = client.post(f"/api/projects/{project}/items?id_field=COMMENT_ID",
                    data=youtube_csv(), headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    apply_lfs_in_process(store, project)
    models.recalibrate(store, project, 500)
    answered_id, lease, _ = store.lease_next(project, "a", 60)
    store.store_answer(project, "a", answered_id, 1, lease)
    leased_id, held_lease, _ = store.lease_next(project, "a", 60)
    before = store.state_version(project)
    truth = _truth()
    ids = [answered_id, leased_id, *[i for i in truth if i not in (answered_id, leased_id)][:98]]
    body = {"labels": {i: truth[i] for i in ids}, "eval_fraction": 0.5}
    r = client.post(f"/api/projects/{project}/labels", headers=auth(), json=body)
    assert r.status_code == 201, r.json
    out = r.json
    assert (out["n_labeled"], out["n_answered"], out["answered"], out["n_unleased"]) == (
        99, 1, [answered_id], 1)
    assert 35 <= out["n_held_out"] <= 64 and out["job_id"]
    assert sum(out["gold_counts"].values()) == 99
    assert store.uploaded_gold(project) == {i: ["ham", "spam"].index(truth[i]) for i in ids[1:]}
    assert store.n_eval(project) == out["n_held_out"]
    st = State(store, project)
    assert int((st.y >= 0).sum()) == 1 + 99 - out["n_held_out"]  # the answer, the fitted
    with pytest.raises(LeaseConflict, match="was given a known label meanwhile"):
        store.store_answer(project, "a", leased_id, 0, held_lease)  # the lease ended
    # a ranking made before the labels cannot queue them again ...
    assert not store.replace_queue(project, [(ids[2], 1.0, "model_uncertain")], before)
    # ... and nothing hands one out
    leased: list[str] = []
    while (x := store.lease_next_full(project, "b", 60, shown=leased)) is not None:
        leased.append(x["item_id"])
    assert len(leased) == len(truth) - 100 and not set(leased) & set(ids)
    # sent again (a retry): nothing changes
    again = client.post(f"/api/projects/{project}/labels", headers=auth(), json=body)
    assert again.status_code == 200 and again.json["n_labeled"] == 0
    assert (again.json["n_unchanged"], again.json["job_id"]) == (99, None)


def test_known_labels_that_cannot_be_stored_are_refused_whole(client, store, project, rconn):
    r = client.post(f"/api/projects/{project}/items?id_field=COMMENT_ID&gold_field=CLASS"
                    "&eval_fraction=0", data=youtube_csv(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    truth = _truth()
    first, second = list(truth)[:2]
    other = "spam" if truth[first] == "ham" else "ham"
    before = {k: rconn.dump(k) for k in rconn.keys("*")}
    url = f"/api/projects/{project}/labels"
    for body, status, said in (
            ({"labels": {"nope": "spam", second: truth[second]}}, 400, "'nope'"),
            ({"labels": {second: "eggs"}}, 400, f"item '{second}': unknown label \"eggs\""),
            ({"labels": {first: other, second: truth[second]}}, 409, "another uploaded label"),
            ({"labels": [first]}, 400, '"labels": {'),
            ({"labels": {second: "ham", f" {second}": "spam"}}, 400, "two labels"),
            ({"labels": {}}, 400, '"labels": {'),
            ({"labels": {first: other}, "eval_fraction": "half"}, 400, "eval_fraction"),
            ({"labels": {first: other}, "eval_fraction": 2}, 400, "eval_fraction"),
            ({"label": {first: other}}, 400, "'label'")):
        r = client.post(url, headers=auth(), json=body)
        assert r.status_code == status and said in r.json["error"], (body, r.json)
    assert {k: rconn.dump(k) for k in rconn.keys("*")} == before


def test_a_file_sent_again_with_its_label_column_gives_stored_items_their_labels(
        client, store, project):
    """New-user trial: a label column first kept as a field; the note said to upload
    the file to a new project to import it as known labels. Now the file again with
    stored_labels=1 gives the stored items their labels and imports its new rows."""
    data = youtube_csv().decode().splitlines(keepends=True)
    url = f"/api/projects/{project}/items?id_field=COMMENT_ID"
    r = client.post(url, data="".join(data[:301]).encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201 and "stored_labels=1" in r.json["note"], r.json
    r = client.post(url + "&gold_field=CLASS&stored_labels=1&eval_fraction=0.5",
                    data=youtube_csv(), headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    got = r.json
    assert (got["n_items"], got["n_gold"], got["n_skipped"]) == (50, 50, 300)
    assert got["stored_labels"]["n_labeled"] == 300
    assert 100 <= got["stored_labels"]["n_held_out"] <= 200
    truth = {i: ["ham", "spam"].index(c) for i, c in _truth().items()}
    assert store.uploaded_gold(project) == truth
    assert store.n_eval(project) == got["n_eval"] + got["stored_labels"]["n_held_out"]
    assert store.pool_size(project) == 0
    r = client.post(url + "&stored_labels=1", data=youtube_csv(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 400 and "gold_field" in r.json["error"]
