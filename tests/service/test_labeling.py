"""Applying LFs incrementally: after an upload only the new rows are computed;
after an LF changes only its column; the result always equals a full re-apply."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from svc_helpers import apply_lfs_in_process, auth, youtube_csv

from loop.core.apply import apply_lfs
from loop.core.lf import Record

LF_SRC = '''
from loop import ABSTAIN, labeling_function

@labeling_function()
def has_link(x):
    return 1 if "http" in x.text.lower() else ABSTAIN

@labeling_function()
def short(x):
    return 0 if len(x.text.split()) < {words} else ABSTAIN

@labeling_function()
def says_song(x):
    return 0 if "song" in x.text.lower() else ABSTAIN
'''


@pytest.fixture
def editable(tmp_path, monkeypatch, client):
    """A project on an LF module in a temp folder that the test can edit."""
    mod = tmp_path / "lfs_editable.py"
    mod.write_text(LF_SRC.replace("{words}", "5"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "e", "labels": ["ham", "spam"], "lf_module": "lfs_editable",
        "text_field": "CONTENT"}).json["id"]

    def edit(words):
        mod.write_text(LF_SRC.replace("{words}", str(words)))
        sys.modules.pop("lfs_editable", None)  # as in a fresh work horse

    yield pid, edit
    sys.modules.pop("lfs_editable", None)


def _upload(client, pid, data):
    r = client.post(f"/api/projects/{pid}/items", data=data,
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json


def _full(store, pid):
    """L by applying the module's LFs to every item in one process."""
    import importlib

    mod = importlib.import_module("lfs_editable")
    lfs = [mod.has_link, mod.short, mod.says_song]
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"], "CONTENT": i["text"]})
            for i in store.items(pid)]
    return apply_lfs(lfs, recs, n_classes=2).L


def test_reapply_after_an_upload_computes_only_the_new_rows(client, store, editable):
    pid, _ = editable
    data = youtube_csv().decode().splitlines(keepends=True)
    _upload(client, pid, "".join(data[:201]).encode())
    first = apply_lfs_in_process(store, pid, chunk_size=64)
    assert first["rows_computed"] == 200 and not first["incremental"]
    _upload(client, pid, "".join(data[:1] + data[201:]).encode())
    again = apply_lfs_in_process(store, pid, chunk_size=64)
    assert again["incremental"] and again["rows_computed"] == 150
    assert again["lfs_recomputed"] == []
    L, meta = store.load_L(pid)
    assert np.array_equal(L, _full(store, pid))
    # nothing new: nothing computed, the published chunks reused as they are
    before = store.L_meta(pid)["chunks"]
    none = apply_lfs_in_process(store, pid, chunk_size=64)
    assert none["rows_computed"] == 0 and store.L_meta(pid)["chunks"] == before


def test_editing_one_lf_recomputes_only_its_column(client, store, editable):
    pid, edit = editable
    _upload(client, pid, youtube_csv())
    apply_lfs_in_process(store, pid, chunk_size=100)
    edit(words=8)  # `short` changes; the other two do not
    out = apply_lfs_in_process(store, pid, chunk_size=100)
    assert out["lfs_recomputed"] == ["short"] and out["rows_computed"] == 350
    L, meta = store.load_L(pid)
    assert np.array_equal(L, _full(store, pid))
    assert meta["lf_names"] == ["has_link", "short", "says_song"]


def test_an_apply_runs_progress_never_goes_back_when_a_unit_runs_again(store, project):
    """Operator's trial: a unit run again after its worker was killed counted from 0,
    and the run's progress went from 3,342 rows back to 1,114."""
    store.set_apply_progress(project, 7, 0, 3342)
    store.set_apply_progress(project, 7, 1, 500)
    store.set_apply_progress(project, 7, 0, 1114)  # the unit again, from the start
    done, at = store.apply_progress(project, 7)
    assert done == 3842 and at is not None
    store.set_apply_progress(project, 7, 0, 5000)
    assert store.apply_progress(project, 7)[0] == 5500


def test_units_go_to_jobs_in_runs_of_consecutive_units():
    from loop.service.labeling import ROWS_PER_JOB, unit_groups

    assert unit_groups(0, 100, 1) == []
    assert unit_groups(1, 100, 4) == [[0]]
    assert unit_groups(7, 50, 0) == [[0, 1, 2, 3], [4, 5, 6]]  # two jobs at least
    assert unit_groups(20, 10_000, 1) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9],
                                          [10, 11, 12, 13, 14], [15, 16, 17, 18, 19]]
    assert unit_groups(20, 10_000, 4) == [list(range(a, min(a + 3, 20)))
                                          for a in range(0, 20, 3)]  # 2 a worker
    for n, cs, w in ((1000, 100, 1), (5, ROWS_PER_JOB * 2, 1), (33, 7, 3)):
        groups = unit_groups(n, cs, w)
        assert [u for g in groups for u in g] == list(range(n))
        assert all(len(g) * cs <= ROWS_PER_JOB or len(g) == 1 for g in groups)


def _planned_in_units_of_50(app, client, store, rconn, project):
    """The project's 350 items uploaded and applied, then an apply run of every LF
    planned again (its L meta dropped) in units of 50 rows, its units queued: the
    queue and the run's id."""
    from rq import Queue
    from svc_helpers import burst_worker, configure

    configure(app, CHUNK_SIZE=50)
    _upload(client, project, youtube_csv())
    q = Queue("loop", connection=rconn)
    burst_worker([q], rconn).work(burst=True)  # what the upload asked for
    jid = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                      json={"type": "apply_lfs"}).json["job_id"]
    store.r.delete(store._k(project, "L", "meta"))  # everything to compute again
    burst_worker([q], rconn).work(burst=True, max_jobs=1)  # the plan
    return q, jid


def test_an_apply_run_computes_its_units_several_to_a_job(app, client, store, rconn, project):
    """Speed trial: each unit of 10,000 rows was a job of its own, in a fresh work
    horse: about 0.1 s a unit on top of 0.12 s of work for 25 rules. The units go
    to jobs in runs; a job tried again computes only the units not yet stored."""
    from rq.job import Job
    from svc_helpers import burst_worker

    q, jid = _planned_in_units_of_50(app, client, store, rconn, project)
    run = Job.fetch(jid, connection=rconn)
    assert run.return_value()["units"] == 7 and run.return_value()["unit_jobs"] == 2
    jobs = [Job.fetch(j, connection=rconn) for j in run.meta["chunk_jobs"]]
    assert [j.args[2] for j in jobs] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [j.meta["progress"]["total"] for j in jobs] == [200, 150]
    v = run.meta["L_version"]
    from lfs_youtube import LFS

    marked = np.full((50, len(LFS)), 1, dtype=np.int8)  # unit 1 as a failed try stored it
    store.save_L_chunk(project, v, 1, marked, [])
    burst_worker([q], rconn).work(burst=True)
    assert client.get(f"/api/jobs/{jid}", headers=auth()).json["status"] == "finished"
    assert jobs[0].get_meta(refresh=True)["progress"]["done"] == 200
    L, meta = store.load_L(project)
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"], "CONTENT": i["text"]})
            for i in store.items(project)]
    full = apply_lfs(LFS, recs, n_classes=2).L
    assert np.array_equal(L[50:100], marked)  # not computed again
    assert np.array_equal(np.delete(L, range(50, 100), axis=0),
                          np.delete(full, range(50, 100), axis=0))


def test_each_unit_of_a_job_gets_the_time_limit_anew():
    """A job of several units has the limit of one unit for each (not the sum for
    the first, where a hanging LF would be found only after all of them)."""
    import signal
    import time

    from loop.service.tasks import _unit_time_limit

    class Limit(Exception):
        pass

    def penalty(*_):
        raise Limit

    _unit_time_limit(1)  # no time limit running (not in a work horse): nothing set
    assert signal.alarm(0) == 0
    old = signal.signal(signal.SIGALRM, penalty)
    try:
        signal.alarm(30)  # the job's limit
        _unit_time_limit(1)
        with pytest.raises(Limit):
            time.sleep(3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_unit_run_again_after_the_merge_leaves_the_published_L_for_good(
        client, store, editable):
    """Operator's trial (compose, a worker frozen with `docker pause` mid-unit): its
    unit was run again elsewhere, the run merged and published the unit's key as a
    chunk of L, then the frozen worker woke up and stored the unit again, with the
    7-day expiry of an unpublished unit: the project's L would lose that chunk a week
    later ("the published L has missing chunks")."""
    from loop.service import labeling

    pid, _ = editable
    _upload(client, pid, youtube_csv())
    plan = labeling.plan(store, pid, 64)
    for i in range(len(plan["units"])):
        labeling.apply_unit(store, pid, plan["version"], i)
    labeling.merge(store, pid, plan["version"])
    chunks = store.L_meta(pid)["chunks"]
    assert store.L_chunk_key(pid, plan["version"], 0) in chunks  # published as is
    L, _ = store.load_L(pid)
    labeling.apply_unit(store, pid, plan["version"], 0)  # the frozen worker, late
    assert [store.r.ttl(k) for k in chunks] == [-1] * len(chunks)
    assert np.array_equal(store.load_L(pid)[0], L)


def test_an_older_runs_merge_never_publishes_over_a_newer_run(client, store, project):
    """Operator's trial: a merge held up between its check of the published L and
    its publish put an older run's L over a newer one (whose chunks then expired)."""
    from loop.errors import LFRunSuperseded
    from loop.service import labeling

    _upload(client, project, youtube_csv())
    older = labeling.plan(store, project, 100)
    newer = labeling.plan(store, project, 100)
    assert newer["version"] > older["version"] and older["base_version"] is None
    for p in (older, newer):
        for i in range(len(p["units"])):
            labeling.apply_unit(store, project, p["version"], i)
    labeling.merge(store, project, newer["version"])
    published = store.L_meta(project)
    with pytest.raises(LFRunSuperseded):
        labeling.merge(store, project, older["version"])
    assert store.L_meta(project) == published
    assert all(store.r.ttl(k) == -1 for k in published["chunks"])


def test_a_unit_job_canceled_after_a_worker_took_it_computes_no_more_units(
        app, client, store, rconn, project):
    """Fault trial: a run was canceled while a worker took one of its unit jobs off
    the queue; the job ran its 3 units whole (10 s), the run long canceled. A job
    of several units looks before each whether it was told to stop."""
    from rq.job import Job
    from svc_helpers import burst_worker

    q, jid = _planned_in_units_of_50(app, client, store, rconn, project)
    run = Job.fetch(jid, connection=rconn)
    first = Job.fetch(run.meta["chunk_jobs"][0], connection=rconn)
    first.meta["stop_reason"] = "canceled through the API"  # as cancel() writes it
    first.save_meta()
    burst_worker([q], rconn).work(burst=True, max_jobs=1)
    assert first.return_value()["stopped"] == "canceled through the API"
    v = run.meta["L_version"]
    assert not any(store.unit_stored(project, v, i) for i in first.args[2])


def test_an_apply_run_canceled_while_it_plans_computes_and_publishes_nothing(
        app, client, store, rconn, project, monkeypatch):
    """Left open by a fault trial: a run canceled within ms of its start still ran.
    The cancel read the run's meta before the run had noted its units' jobs (it
    enqueues them after planning), and the run's own meta save then dropped the
    stop reason; its units were computed and its merge published L."""
    from rq import Queue
    from rq.job import Job
    from svc_helpers import burst_worker, configure

    from loop.service import jobs, labeling

    configure(app, CHUNK_SIZE=50)
    _upload(client, project, youtube_csv())
    q = Queue("loop", connection=rconn)
    burst_worker([q], rconn).work(burst=True)  # what the upload asked for
    store.r.delete(store._k(project, "L", "meta"))  # everything to compute again
    jid = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                      json={"type": "apply_lfs"}).json["job_id"]
    real_plan, said = labeling.plan, {}

    def plan_while_canceled(*a, **kw):  # the admin's cancel lands as the run plans
        said.update(jobs.cancel(rconn, jid))
        return real_plan(*a, **kw)

    monkeypatch.setattr(labeling, "plan", plan_while_canceled)
    burst_worker([q], rconn).work(burst=True)
    assert said["canceled"] == [jid] and said["stopping"] == [jid]
    run = Job.fetch(jid, connection=rconn)
    assert run.return_value()["stopped"] == "canceled by an admin"
    assert run.get_meta(refresh=True)["stop_reason"] == "canceled by an admin"
    v = run.meta["L_version"]
    assert len(run.meta["chunk_jobs"]) == 2
    assert not any(store.unit_stored(project, v, i) for i in range(7))
    for j in (*run.meta["chunk_jobs"], run.meta["merge_job"]):
        assert Job.fetch(j, connection=rconn).get_status(refresh=True) == "canceled"
    assert not store.L_meta(project)  # nothing published
    st = client.get(f"/api/jobs/{jid}", headers=auth()).json
    assert st["status"] == "canceled" and st["error"] == "canceled by an admin", st


def test_a_unit_of_a_canceled_run_taken_before_the_cancel_could_see_it_stops(
        app, client, store, rconn, project):
    """The same race, a unit job already taken by a worker when the run noted the
    cancel: it looks for its run's stop note before each unit, as does the merge."""
    from rq.job import Job
    from svc_helpers import burst_worker

    q, jid = _planned_in_units_of_50(app, client, store, rconn, project)
    run = Job.fetch(jid, connection=rconn)
    store.stop_run(project, jid, "canceled by an admin")  # as cancel() notes it first
    burst_worker([q], rconn).work(burst=True)
    v = run.meta["L_version"]
    for j in run.meta["chunk_jobs"]:
        assert Job.fetch(j, connection=rconn).return_value()["stopped"] == (
            "canceled by an admin")
    assert not any(store.unit_stored(project, v, i) for i in range(7))
    merge = Job.fetch(run.meta["merge_job"], connection=rconn)
    assert merge.return_value() == {"stopped": "canceled by an admin"}
    assert not store.L_meta(project)
    # re-trial: the run read "finished", no error, though the admin's cancel was
    # taken (200) and nothing was published (its merge ended early, as told)
    st = client.get(f"/api/jobs/{jid}", headers=auth()).json
    assert st["status"] == "canceled" and st["error"] == "canceled by an admin", st
    # and its progress says how far it got (no unit ran), not 100%
    assert st["progress"]["done"] < st["progress"]["total"], st["progress"]


def test_a_unit_run_frozen_past_its_time_limit_and_re_run_keeps_the_re_runs_outcome(
        store, rconn, project, monkeypatch):
    """Fault trial: a worker and its work horse frozen (SIGSTOP) mid-unit for 70 s;
    the job was re-run elsewhere and the run published L. On SIGCONT the horse's
    time-limit alarm, run out while it was frozen, fired: the late run failed the
    job ("LF ... was still running ... hit its time limit"), the job's record went
    from finished to failed and /metrics said the project's last apply run failed."""
    import time

    from rq import Queue
    from rq.results import Result

    from loop.errors import LFTimeout
    from loop.service import labeling, tasks

    pid, v = project, 3
    store.save_apply_plan(pid, v, {"units": [{"start": 0, "stop": 10, "lfs": ["a"]},
                                             {"start": 10, "stop": 20, "lfs": ["a"]}]})
    job = Queue("frozen", connection=rconn).enqueue("builtins.print", "x")
    first, second = time.time() - 80, time.time() - 10
    job.meta["starts"] = [first, second]  # the re-run's start noted by its worker
    job.save_meta()
    done = {"units": [0, 1], "rows": 20, "n_errors": 0}
    Result.create(job, Result.Type.SUCCESSFUL, ttl=60, return_value=done)

    def frozen(*a, **kw):
        raise LFTimeout("LF 'a' was still running on item 'r3' when the unit of rows "
                        "0-9 hit its time limit (LOOP_LF_CHUNK_TIMEOUT)")

    monkeypatch.setattr(labeling, "apply_unit", frozen)
    run = {"started": first}  # the frozen run's start (``_job`` notes it)

    def current():
        tasks.RUN_STARTED[job.id] = run["started"]
        return job

    monkeypatch.setattr(tasks, "_job", current)
    assert tasks.apply_lfs_unit(pid, v, [0, 1], 8) == done  # the re-run's outcome
    assert store.get_value(pid, "apply_status") is None  # no failure recorded
    run["started"] = second
    Result.create(job, Result.Type.SUCCESSFUL, ttl=60, return_value=done)
    job.meta["starts"] = [first]  # handed back, its re-run not started yet (queued)
    job.save_meta()
    run["started"] = first
    assert tasks.apply_lfs_unit(pid, v, [0, 1], 8)["skipped"]
    assert store.get_value(pid, "apply_status") is None
    job.set_status("started")  # the run that is running: its time limit is real
    with pytest.raises(LFTimeout):
        tasks.apply_lfs_unit(pid, v, [0, 1], 8)
    assert "time limit" in store.get_value(pid, "apply_status")["error"]["message"]
