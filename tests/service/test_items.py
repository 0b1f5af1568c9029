"""Uploads are atomic per project: concurrent uploads end with every item once and
the right row mapping, or one of them gets 409 and writes nothing."""

from __future__ import annotations

import threading

import pytest
from svc_helpers import auth


def _csv(ids, tag=""):
    return ("id,CONTENT\n" + "".join(f"{i},text {tag}{i}\n" for i in ids)).encode()


def _upload_all(app, pid, bodies):
    """POST every body at the same time (one test client per thread)."""
    out = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def go(i, body):
        c = app.test_client()
        start.wait()
        out[i] = c.post(f"/api/projects/{pid}/items?id_field=id", data=body,
                        headers={**auth(), "Content-Type": "text/csv"})

    threads = [threading.Thread(target=go, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _consistent(store, pid):
    """Every item once, row i of the id list is the item whose row is i, and
    each stored item is the one its id names."""
    ids = store.item_ids(pid)
    assert len(ids) == len(set(ids))
    rows = store.rows_of(pid, ids)
    assert rows.tolist() == list(range(len(ids)))
    items = store.items(pid, ids)
    assert [it["id"] for it in items] == ids
    assert all(it["text"].endswith(it["id"]) for it in items)
    return ids


@pytest.mark.slow
def test_concurrent_uploads_of_distinct_ids(app, store, project):
    a = _csv(range(0, 20_000), "a")
    b = _csv(range(20_000, 40_000), "b")
    for _ in range(3):
        res = _upload_all(app, project, [a, b])
        codes = sorted(r.status_code for r in res)
        print("two uploads at once:", codes)
        assert codes in ([201, 201], [201, 409], [201, 400]), codes
        for r in res:
            assert r.status_code == 201 or r.json["error"]
            if r.status_code == 409:  # a client can tell it to send it again
                assert r.json["code"] == "upload_collided" and r.headers["Retry-After"], r.json
        if codes == [201, 201]:
            break  # serialized by chance: both went in, one after the other
        # one got 409 (or 400: it ran after the other and saw its ids): send it again
        loser = [body for body, r in zip((a, b), res, strict=True) if r.status_code != 201]
        r = _upload_all(app, project, loser)[0]
        assert r.status_code in (201, 400)
        break
    ids = _consistent(store, project)
    assert set(ids) == {str(i) for i in range(40_000)}
    assert store.pool_size(project) == 40_000


@pytest.mark.slow
def test_the_same_file_twice_at_once_goes_in_once(app, store, project):
    body = _csv(range(30_000))
    res = _upload_all(app, project, [body, body, body])
    codes = sorted(r.status_code for r in res)
    print("three uploads at once:", codes)
    assert codes.count(201) == 1 and set(codes) <= {201, 400, 409}, codes
    ids = _consistent(store, project)
    assert len(ids) == 30_000 and store.pool_size(project) == 30_000


def test_a_conflicting_write_is_a_409_that_writes_nothing(store, project):
    from loop.errors import Conflict

    items = [{"id": "x", "text": "t", "fields": {}}]
    store.add_items(project, items, {}, [], first_row=0)
    before = store.item_ids(project)
    with pytest.raises(Conflict, match="send it again") as err:  # planned before the first
        store.add_items(project, [{"id": "y", "text": "t", "fields": {}}], {}, [], first_row=0)
    assert err.value.code == "upload_collided"  # API trial: a 409 a retrying client can read
    assert store.item_ids(project) == before and store.pool_size(project) == 1


def test_the_same_file_without_ids_twice_is_refused_unless_asked_for(client, store, project):
    """New-user trial: a file without an id column imported twice held every item
    twice, and nothing said so."""
    body = b"CONTENT,CLASS\nfirst comment,1\nsecond comment,0\n"

    def up(data=body, **args):
        q = "&".join(f"{k}={v}" for k, v in args.items())
        return client.post(f"/api/projects/{project}/items?{q}", data=data,
                           headers={**auth(), "Content-Type": "text/csv"})

    assert up().status_code == 201
    n = store.n_items(project)
    for args in ({}, {"dry_run": "1"}):
        r = up(**args)
        assert r.status_code == 409 and r.json["code"] == "duplicate_upload", r.json
        assert "uploaded already" in r.json["error"] and "allow_duplicate=1" in r.json["error"]
        assert "update" not in r.json["error"]  # uploads never change stored items
        assert store.n_items(project) == n  # nothing stored
    assert up(allow_duplicate="maybe").status_code == 400
    # the same texts read another way (another order, the known labels read, a
    # column dropped) are the same items: new-user trial, the file uploaded again
    # without id_field stored each text twice
    for data, args in ((b"CONTENT,CLASS\nsecond comment,0\nfirst comment,1\n", {}),
                       (body, {"gold_field": "CLASS"}), (b"CONTENT\nfirst comment\n"
                                                         b"second comment\n", {})):
        r = up(data, dry_run="1", **args)
        assert r.status_code == 409 and "texts were all uploaded already" in r.json["error"]
    # a changed row, or some of the texts only, is new
    assert up(b"CONTENT\nfirst comment\nthird comment\n", dry_run="1").status_code == 200
    assert up(b"CONTENT\nfirst comment\n", dry_run="1").status_code == 200
    # asked for: stored again, under new ids
    assert up(allow_duplicate="1").status_code == 201
    assert store.n_items(project) == n + 2
    texts = [it["text"] for it in store.items(project, store.item_ids(project))]
    assert texts.count("first comment") == 2
    # with ids, an id already there is what is refused (as before) ...
    r = up(b"id,CONTENT\na,x\n", id_field="id")
    assert r.status_code == 201
    r = up(b"id,CONTENT\na,x\nz,new\n", id_field="id")
    assert r.status_code == 400 and "already exist" in r.json["error"]
    # ... and the same file again is said to be one (new-user trial: a 400 about ids),
    # without offering allow_duplicate, which could not import it
    r = up(b"id,CONTENT\na,x\n", id_field="id")
    assert r.status_code == 409 and r.json["code"] == "duplicate_upload", r.json
    assert "nothing to import" in r.json["error"] and "allow_duplicate" not in r.json["error"]
    assert r.json["ids_stored"] is True  # the Data page offers no "import anyway"
    r = up(b"id,CONTENT\na,x\n", id_field="id", allow_duplicate="1")
    assert r.status_code == 400 and "already exist" in r.json["error"]
    # ... and the same file without id_field (its ids read as a field): the texts
    n = store.n_items(project)
    for args in ({}, {"dry_run": "1"}):
        r = up(b"id,CONTENT\na,x\n", **args)
        assert r.status_code == 409 and r.json["code"] == "duplicate_upload", r.json
        assert "as ids a to a" in r.json["error"]
    assert store.n_items(project) == n
    # new ids for the same texts too
    assert up(b"id,CONTENT\nb,x\n", id_field="id").status_code == 409
    assert up(b"id,CONTENT\nb,x\n", id_field="id", allow_duplicate="1").status_code == 201


def test_items_uploaded_to_a_project_in_use_get_their_votes_and_the_loop_goes_on(
        client, store, project, rconn):
    """Fault trial: 300 items uploaded while an apply ran; that run's recalibration
    and every automatic one after it failed ("apply the LFs to every item first"),
    the queue ran dry and 526 answers stayed out of the models until someone applied
    the LFs by hand."""
    from svc_helpers import annotator_token, answer_n, prepare_project, run_burst

    pid = prepare_project(store, client, project)
    first = client.post(f"/api/projects/{pid}/items", data=b"CONTENT\nnew one\n",
                        headers={**auth(), "Content-Type": "text/csv"})
    assert first.status_code == 201 and first.json["apply_job"], first.json
    # an automatic recalibration before that apply has run: it asks for the apply (the
    # same queued one) instead of failing, and the apply recalibrates after it
    answer_n(client, pid, annotator_token(client, pid, "a"), 10, 0)
    run_burst(rconn)
    assert store.L_meta(pid)["n_items"] == store.n_items(pid)
    jobs = client.get(f"/api/projects/{pid}/jobs", headers=auth()).json["jobs"]
    assert not [j for j in jobs if j["status"] == "failed"], jobs
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert m["history"][-1]["n_gold"] >= 10 and store.since_recal(pid) == 0
    assert m["recalibration"]["last_error"] is None


def test_a_recalibration_during_an_uploads_apply_run_waits_for_it(client, store, project,
                                                                  rconn):
    """Operator's trial: answers during an upload's apply run made each automatic
    recalibration ask for a run of its own (the upload's had started, so it was not
    reused): two to four runs computed the same new items."""
    from rq.job import Job, JobStatus
    from svc_helpers import annotator_token, answer_n, prepare_project, run_burst

    from loop.service import jobs as service_jobs

    pid = prepare_project(store, client, project)
    r = client.post(f"/api/projects/{pid}/items", data=b"CONTENT\nnew one\nnew two\n",
                    headers={**auth(), "Content-Type": "text/csv"})
    apply_id = r.json["apply_job"]
    assert service_jobs.apply_covering(rconn, store, pid) is None  # not started yet
    run = Job.fetch(apply_id, connection=rconn)
    run.set_status(JobStatus.STARTED)
    run.perform()  # a worker plans it: its units and merge wait in the queue
    run.set_status(JobStatus.FINISHED)
    assert service_jobs.apply_covering(rconn, store, pid) == apply_id
    answer_n(client, pid, annotator_token(client, pid, "a"), 10, 0)  # a recalibration
    run_burst(rconn)
    jobs = client.get(f"/api/projects/{pid}/jobs", headers=auth()).json["jobs"]
    applies = [j for j in jobs if j["type"] == "apply_lfs"]
    assert [j["id"] for j in applies] == [apply_id], applies
    assert not [j for j in jobs if j["status"] == "failed"], jobs
    assert store.L_meta(pid)["n_items"] == store.n_items(pid)
    assert service_jobs.apply_covering(rconn, store, pid) is None  # finished
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert m["history"][-1]["n_gold"] >= 10 and store.since_recal(pid) == 0
    # a run that does not plan every item now covers nothing
    r = client.post(f"/api/projects/{pid}/items", data=b"CONTENT\nnew three\n",
                    headers={**auth(), "Content-Type": "text/csv"})
    run = Job.fetch(r.json["apply_job"], connection=rconn)
    run.set_status(JobStatus.STARTED)
    run.perform()
    assert service_jobs.apply_covering(rconn, store, pid) == run.id
    store.add_items(pid, [{"id": "late", "text": "later", "fields": {}}], {}, [],
                    first_row=store.n_items(pid))
    assert service_jobs.apply_covering(rconn, store, pid) is None


def test_a_retrain_before_the_label_model_saw_new_items_asks_for_a_recalibration(
        store, client, project, rconn):
    """Operator's trial: an automatic retrain that ran between an upload's merge and
    its recalibration was a failed job ("fit the label model first")."""
    from svc_helpers import prepare_project, run_burst

    from loop.service.recalibration import RecalibrationPolicy, Recalibrator

    pid = prepare_project(store, client, project)
    store.add_items(pid, [{"id": "x1", "text": "new", "fields": {}}], {}, [],
                    first_row=store.n_items(pid))
    r = client.post(f"/api/projects/{pid}/jobs", headers=auth(),
                    json={"type": "apply_lfs", "recalibrate": False})
    assert r.status_code == 202
    run_burst(rconn)  # the LFs saw the item; the label model has not
    asked: list = []
    r = Recalibrator(store, lambda f, *a, **kw: asked.append(f) or "j",
                     RecalibrationPolicy(every=1, min_gap=0), 30)
    out = r.run_end_model(pid)
    assert out["skipped"] and "a recalibration fits it on the new ones" in out["reason"]
    assert asked == ["recalibrate"]
    assert (store.get_value(pid, "end_model_status") or {}).get("error") is None


def test_a_retrain_with_votes_only_on_held_out_items_is_skipped_saying_why(
        store, client, rconn):
    """Re-trial: a first rule that matched only held-out items, before any answer,
    failed the end model's retrain ("nothing to train on: no soft labels and no gold
    labels", a traceback in the worker's log). It is skipped, saying why; nothing is
    recorded as a failure, and a vote on another item trains it."""
    from svc_helpers import run_burst

    from loop.service import models
    from loop.service.recalibration import RecalibrationPolicy, Recalibrator

    pid = client.post("/api/projects", headers=auth(), json={  # rules only, no LF module
        "name": "rules", "labels": ["ham", "spam"]}).json["id"]
    plain = "text\n" + "".join(f"an ordinary comment {i}\n" for i in range(20))
    r = client.post(f"/api/projects/{pid}/items", data=plain.encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    known = "text,gold\n" + "".join(f"zebra crossing {i},{i % 2}\n" for i in range(6))
    r = client.post(f"/api/projects/{pid}/items?gold_field=gold&eval_fraction=1",
                    data=known.encode(), headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json["n_eval"] == 6, r.json
    rule = {"name": "zebra", "label": 1, "kind": "keywords", "keywords": ["zebra"]}
    assert client.post(f"/api/projects/{pid}/rules", headers=auth(), json=rule).status_code == 201
    run_burst(rconn)  # applied: it votes on the 6 held-out items only
    models.recalibrate(store, pid, 20)
    recal = Recalibrator(store, lambda f, *a, **kw: "j", RecalibrationPolicy(every=1, min_gap=0),
                         20)
    out = recal.run_end_model(pid)
    assert out.get("skipped") and "nothing to learn from" in out["reason"], out
    assert (store.get_value(pid, "end_model_status") or {}).get("error") is None
    assert store.model_summary(pid, "end_model") is None
    rule = {"name": "ordinary", "label": 0, "kind": "keywords", "keywords": ["ordinary"]}
    assert client.post(f"/api/projects/{pid}/rules", headers=auth(), json=rule).status_code == 201
    run_burst(rconn)
    models.recalibrate(store, pid, 20)
    assert recal.run_end_model(pid)["n_gold"] == 0
    assert store.model_summary(pid, "end_model") is not None


def test_a_recalibration_that_finds_items_without_votes_asks_for_an_apply(store, client,
                                                                          project):
    """The safety net whatever added the items: a run never fails for good on them."""
    from svc_helpers import prepare_project

    from loop.service.recalibration import RecalibrationPolicy, Recalibrator

    pid = prepare_project(store, client, project)
    store.add_items(pid, [{"id": "x1", "text": "new", "fields": {}}], {}, [],
                    first_row=store.n_items(pid))
    asked: list = []
    r = Recalibrator(store, lambda *a, **kw: "j", RecalibrationPolicy(every=1), 30,
                     apply=lambda p: asked.append(p) or "apply-1")
    out = r.run(pid, auto=True)
    assert out["skipped"] and "apply run apply-1" in out["reason"] and asked == [pid]
    out = r.run(pid, full=True)  # an apply run's own, started before the upload
    assert out["skipped"] and asked == [pid, pid]


def test_items_that_come_while_the_models_train_fail_no_run(store, client, project,
                                                          monkeypatch):
    """Re-trial: an end-model retrain that items reached mid-run raised "operands could
    not be broadcast together with shapes (2556,) (2856,)" (the items' LFs applied
    meanwhile), or NotReady (not applied yet), and so did an admin's recalibration
    in its end-model step."""
    from svc_helpers import apply_lfs_in_process, prepare_project

    from loop.service import models
    from loop.service.recalibration import RecalibrationPolicy, Recalibrator

    pid = prepare_project(store, client, project)
    real = models.fit_end_model
    added = iter(range(1000))

    def upload_meanwhile(*a, applied=True, **kw):
        out = real(*a, **kw)
        i = next(added)
        store.add_items(pid, [{"id": f"new{i}", "text": "check out my channel", "fields": {}}],
                        {}, [], first_row=store.n_items(pid))
        if applied:
            apply_lfs_in_process(store, pid)
        return out

    monkeypatch.setattr(models, "fit_end_model", upload_meanwhile)
    out = models.retrain_end_model(store, pid, 30)  # the new items applied meanwhile
    assert out["queue_replaced"] is False and "re-ranks" in out["not_ranked"]
    assert store.model_summary(pid, "end_model")["n_gold"] == out["n_gold"]
    models.recalibrate(store, pid, 30)  # (what the apply run's recalibration does)
    # not applied yet when the retrain re-ranks: the same
    monkeypatch.setattr(models, "fit_end_model",
                        lambda *a, **kw: upload_meanwhile(*a, applied=False, **kw))
    assert "re-ranks" in models.retrain_end_model(store, pid, 30)["not_ranked"]
    apply_lfs_in_process(store, pid)
    monkeypatch.setattr(models, "fit_end_model", real)
    # items that come between an admin's label-model fit and its end-model step
    real_recal = models.recalibrate

    def recal_then_upload(*a, **kw):
        out = real_recal(*a, **kw)
        store.add_items(pid, [{"id": "later", "text": "nice song", "fields": {}}], {}, [],
                        first_row=store.n_items(pid))
        return out

    monkeypatch.setattr(models, "recalibrate", recal_then_upload)
    asked: list = []
    r = Recalibrator(store, lambda *a, **kw: "j", RecalibrationPolicy(every=1), 30,
                     apply=lambda p: asked.append(p) or "apply-9")
    out = r.run(pid, full=True)  # an admin's: the label model, then the end model inline
    assert "skipped" not in out and out["n_gold"] is not None
    assert "apply run apply-9" in out["end_model_skipped"] and asked == [pid]


def test_import_anyway_works_after_a_file_with_numeric_ids(client, store, project):
    """New-user trial: ids 1..50, then the same file without an id column: the 409
    offered "import them again anyway", which then failed (row numbers 50.. were
    taken by the first file's ids) and so did choosing the id column."""
    body = ("id,CONTENT\n" + "".join(f"{i},text {i}\n" for i in range(1, 51))).encode()

    def up(**args):
        q = "&".join(f"{k}={v}" for k, v in args.items())
        return client.post(f"/api/projects/{project}/items?{q}", data=body,
                           headers={**auth(), "Content-Type": "text/csv"})

    assert up(id_field="id").status_code == 201
    assert up().status_code == 409
    r = up(allow_duplicate="1")
    assert r.status_code == 201, r.json
    ids = store.item_ids(project)
    assert len(ids) == 100 and ids[50:52] == ["row-50", "row-51"]


def test_a_second_split_that_reuses_ids_is_told_to_drop_its_ids_not_to_skip_them(
        client, store, project):
    """New-user trial: a dataset's valid split, numbered from 0 like its train split,
    was told to upload with skip_stored=1, which left out every one of its rows."""
    def up(body, query=""):
        return client.post(f"/api/projects/{project}/items?eval_fraction=0{query}",
                           data=body, headers={**auth(), "Content-Type": "text/csv"})

    assert up(b"id,CONTENT\n0,train zero\n1,train one\n", "&id_field=id").status_code == 201
    second = b"id,CONTENT\n0,valid zero\n1,valid one\n2,valid two\n"
    r = up(second, "&id_field=id")
    assert r.status_code == 400, r.json
    assert ("none of them holds the text stored under its id, so these rows are other "
            "items that reuse ids" in r.json["error"]), r.json
    assert "upload without id_field" in r.json["error"]
    assert "skip_stored=1" not in r.json["error"]  # (the Data page offers it on that)
    assert store.n_items(project) == 2
    # ... which imports them all, under new ids
    r = up(second)
    assert r.status_code == 201 and r.json["n_items"] == 3, r.json
    assert [i["text"] for i in store.items(project)][2:] == ["valid zero", "valid one",
                                                             "valid two"]
    # ... and is not told to pass the id_field that was just refused (service trial)
    assert "ids of items stored already" in r.json["note"] and "pass id_field" not in r.json[
        "note"], r.json

def test_a_file_that_grew_imports_its_new_rows_with_skip_stored(client, store, project):
    """A file uploaded again with rows added: refused whole before (the error named
    the stored ids); with skip_stored=1 only its new rows go in, and stored items
    stay as they were."""
    def up(body, query):
        return client.post(f"/api/projects/{project}/items?id_field=id&{query}", data=body,
                           headers={**auth(), "Content-Type": "text/csv"})

    assert up(b"id,CONTENT,label\na,first,ham\nb,second,spam\n",
              "gold_field=label&eval_fraction=0").status_code == 201
    grown = b"id,CONTENT,label\na,changed,spam\nb,second,spam\nc,third,ham\nd,fourth,spam\n"
    r = up(grown, "gold_field=label&eval_fraction=0")
    assert r.status_code == 400 and "skip_stored=1" in r.json["error"], r.json
    assert store.n_items(project) == 2
    r = up(grown, "gold_field=label&eval_fraction=0&skip_stored=1&dry_run=1")
    assert r.status_code == 200 and r.json["n_items"] == 2 and r.json["n_skipped"] == 2
    assert store.n_items(project) == 2
    r = up(grown, "gold_field=label&eval_fraction=0&skip_stored=1")
    assert r.status_code == 201, r.json
    assert (r.json["n_items"], r.json["n_skipped"], r.json["skipped_ids"]) == (2, 2, ["a", "b"])
    assert r.json["n_gold"] == 2 and r.json["gold_counts"] == {"ham": 1, "spam": 1}
    assert store.item_ids(project) == ["a", "b", "c", "d"]
    assert [i["text"] for i in store.items(project)] == ["first", "second", "third", "fourth"]
    assert store.uploaded_gold(project)["a"] == 0  # stored as it was: "ham"
    # every row stored: nothing to import, said so, nothing written
    r = up(grown, "gold_field=label&eval_fraction=0&skip_stored=1")
    assert r.status_code == 201 and r.json["n_items"] == 0 and r.json["n_skipped"] == 4
    assert store.n_items(project) == 4
    # without ids there is nothing to skip by
    r = client.post(f"/api/projects/{project}/items?skip_stored=1", data=b"CONTENT\nx\n",
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 400 and "skip_stored needs id_field" in r.json["error"]


def test_a_pandas_to_csv_file_imports_without_its_index_and_the_reply_says_so(
        client, store, project):
    """New-user trial: ``df.to_csv(path)`` writes pandas' row numbers as a first column
    without a name; the upload was a 400 and nothing could be imported as it was."""
    import pandas as pd

    df = pd.DataFrame({"id": ["a", "b", "c"], "CONTENT": ["hi there", "WIN now", "ok"],
                       "label": ["ham", None, "spam"]})
    r = client.post(f"/api/projects/{project}/items?id_field=id&gold_field=label"
                    "&eval_fraction=0", data=df.to_csv().encode(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    assert ("index, as pandas' to_csv writes it without index=False and R's write.csv "
            "without row.names=FALSE), is left out") in r.json["note"]
    assert store.item_ids(project) == ["a", "b", "c"]
    assert [(i["text"], i["fields"]) for i in store.items(project)] == [
        ("hi there", {}), ("WIN now", {}), ("ok", {})]
    assert store.uploaded_gold(project) == {"a": 0, "c": 1}


def test_an_export_uploaded_again_with_gold_field_label_is_told_where_its_known_labels_are(
        client, store, project):
    """Round-trip trial: an export uploaded as a new project's items with the README's
    ``gold_field=label`` took the models' labels as known labels, with no word."""
    def up(pid, body, query):
        return client.post(f"/api/projects/{pid}/items?{query}", data=body,
                           headers={**auth(), "Content-Type": "text/csv"})

    assert up(project, b"id,CONTENT,label\na,hi there,ham\nb,WIN now,\nc,free prize,spam\n",
              "id_field=id&gold_field=label&eval_fraction=0").status_code == 201
    export = client.get(f"/api/projects/{project}/export?format=csv", headers=auth())
    assert export.status_code == 200
    again = client.post("/api/projects", headers=auth(), json={
        "name": "again", "labels": ["ham", "spam"], "text_field": "text"}).json["id"]
    r = up(again, export.data, "id_field=id&gold_field=label&dry_run=1")
    assert r.status_code == 200, r.json
    assert ("its known labels are in 'gold', not 'label' ('label' is the models' label "
            "where none is known)") in r.json["note"]
    r = up(again, export.data, "id_field=id&gold_field=gold")
    assert r.status_code == 201 and "known labels are in" not in r.json["note"], r.json
    assert store.uploaded_gold(again) == {"a": 0, "c": 1}


@pytest.mark.slow
def test_an_export_uploaded_again_gives_back_the_items_and_their_fields(client, store,
                                                                        project):
    """Round-trip trial: an export uploaded as a new project's items kept every
    column the export computed (probabilities, the models' label, source, held_out...)
    as fields the labeling page shows, blind projects' too, and the uploaded fields
    came back renamed: field:label from CSV, fields.AUTHOR from JSON lines."""
    import json

    rows = [{"id": "a", "CONTENT": "hi there", "gold": "ham", "AUTHOR": "Ann",
             "label": "x", "source": "web", "data": {"n": 1}, "=HYPERLINK(1)": "y",
             "fields": {"n": 3}, "field:x": 4},
            {"id": "b", "CONTENT": "WIN now", "gold": None, "AUTHOR": "Bob", "label": "z",
             "source": "app", "data": {"n": 2}, "=HYPERLINK(1)": "w",
             "fields": {"n": 5}, "field:x": 6}]
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    r = client.post(f"/api/projects/{project}/items?id_field=id&gold_field=gold"
                    "&eval_fraction=0", data=body,
                    headers={**auth(), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 201, r.json
    stored = store.items(project)
    assert set(stored[0]["fields"]) == {"AUTHOR", "label", "source", "data.n", "=HYPERLINK(1)",
                                        "fields.n", "field:x"}
    for fmt, mime in (("jsonl", "application/x-ndjson"), ("csv", "text/csv")):
        export = client.get(f"/api/projects/{project}/export?format={fmt}", headers=auth())
        pid = client.post("/api/projects", headers=auth(), json={
            "name": fmt, "labels": ["ham", "spam"], "text_field": "text"}).json["id"]
        r = client.post(f"/api/projects/{pid}/items?id_field=id&gold_field=gold",
                        data=export.data, headers={**auth(), "Content-Type": mime})
        assert r.status_code == 201, r.json
        assert "the file is an export of loop: its own columns (p_ham, p_spam, label, " \
            "source, model_label, annotator, answered_at, held_out, random_gold) are " \
            "left out" in r.json["note"]
        again = store.items(pid)
        assert [(i["id"], i["text"]) for i in again] == [(i["id"], i["text"]) for i in stored]
        assert store.uploaded_gold(pid) == {"a": 0}
        for old, new in zip(stored, again, strict=True):
            # CSV has no types: its values come back as text
            want = old["fields"] if fmt == "jsonl" else {
                k: str(v) for k, v in old["fields"].items()}
            assert new["fields"] == want, (fmt, new["fields"])
