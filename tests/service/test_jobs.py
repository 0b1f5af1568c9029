"""Jobs through a real SimpleWorker: apply (chunks + merge), fit, train, refill, recalibrate."""

from __future__ import annotations

import time

import pytest
from svc_helpers import HELD_OUT_QUERY, annotator_token, answer_n, auth, held_out_csv, run_burst

from loop.service import jobs as service_jobs
from loop.service import models


def _job(client, pid, kind):
    r = client.post(f"/api/projects/{pid}/jobs", headers=auth(), json={"type": kind})
    assert r.status_code == 202, r.json
    return r.json["job_id"]


def _status(client, jid):
    return client.get(f"/api/jobs/{jid}", headers=auth()).json


def test_an_apply_run_whose_units_are_done_is_not_shown_queued_again(client, rconn, project):
    """Speed trial: a run showed deferred, then queued while its merge waited for a
    worker, then finished, as if it had gone back to the start."""
    from rq import Queue
    from svc_helpers import burst_worker

    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    first = _status(client, _job(client, project, "export"))
    assert first["status"] == "queued" and first["waiting_for_worker"] is True
    assert first["progress"] == {"done": 0, "total": None}  # not known before it starts
    jid = _job(client, project, "apply_lfs")
    assert _status(client, jid)["status"] == "queued"  # the plan waits for a worker
    # the export and the plan run; its two units of 300 rows wait, none running
    # (re-trial: a run whose worker froze between units said it was not waiting)
    burst_worker([Queue("loop", connection=rconn)], rconn).work(burst=True, max_jobs=2)
    st = _status(client, jid)
    assert st["status"] == "deferred" and st["waiting_for_worker"] is True, st
    assert st["progress"] == {"done": 0, "total": 350}
    from rq.job import Job
    from rq.registry import StartedJobRegistry

    started = StartedJobRegistry(queue=Queue("loop", connection=rconn)).key
    unit = Job.fetch(jid, connection=rconn).meta["chunk_jobs"][0]
    rconn.zadd(started, {f"{unit}:an-execution": time.time() + 60})  # as a worker has it
    assert _status(client, jid)["waiting_for_worker"] is False
    rconn.zrem(started, f"{unit}:an-execution")
    # the units run; the merge is left waiting
    burst_worker([Queue("loop", connection=rconn)], rconn).work(burst=True, max_jobs=2)
    st = _status(client, jid)
    assert st["status"] == "deferred" and st["waiting_for_worker"] is True, st
    assert st["progress"] == {"done": 350, "total": 350}
    assert st["quiet_seconds"] is not None and st["quiet_seconds"] < 60  # since it waits
    run_burst(rconn)
    assert _status(client, jid)["status"] == "finished"


@pytest.mark.slow
def test_pipeline_jobs_and_auto_recalibration(app, client, rconn, store, project):
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    r = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                    json={"type": "apply_lfs", "recalibrate": True})
    jid = r.json["job_id"]
    st = _status(client, jid)
    assert st["type"] == "apply_lfs" and st["status"] in ("deferred", "queued")
    assert st["stalled"] is False  # waits for a worker (a queued job: since queued)
    assert st["quiet_seconds"] is None if st["status"] == "deferred" else st["quiet_seconds"] < 60
    run_burst(rconn)
    st = _status(client, jid)
    assert st["status"] == "finished", st
    assert st["quiet_seconds"] is None and st["stalled"] is False
    assert st["progress"] == {"done": 350, "total": 350}
    assert st["result"]["n_lfs"] == 6 and st["result"]["n_items"] == 350
    # ... and then recalibrated: the label model is fitted and the queue filled
    assert _status(client, st["result"]["recalibrate_job"])["status"] == "finished"
    assert store.queue_size(project) > 0
    for kind in ("fit_label_model", "train_end_model", "refill_queue", "export"):
        jid = _job(client, project, kind)
        run_burst(rconn)
        st = _status(client, jid)
        assert st["status"] == "finished", st
    assert st["result"]["bytes"] > 0 and st["result"]["format"] == "jsonl"
    jobs = client.get(f"/api/projects/{project}/jobs?auto=false", headers=auth()).json["jobs"]
    # the recalibration asked for with the apply run is listed as requested too
    assert len(jobs) == 6 and jobs[0]["type"] == "export"
    assert [j["type"] for j in jobs].count("recalibrate") == 1
    # the export job's file: downloaded, in the format asked for, as the direct export
    r = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                    json={"type": "export", "format": "csv"})
    early = client.get(f"/api/jobs/{r.json['job_id']}/download", headers=auth())
    assert early.status_code == 409 and "once finished" in early.json["error"]
    run_burst(rconn)
    st = _status(client, r.json["job_id"])
    assert st["result"]["download"] == f"/api/jobs/{r.json['job_id']}/download"
    assert st["progress"] == {"done": 2, "total": 2}  # built, stored
    got = client.get(st["result"]["download"], headers=auth())
    assert got.status_code == 200 and got.mimetype == "text/csv"
    # named after the project: its name, then its id
    assert got.headers["Content-Disposition"] == f"attachment; filename=yt-{project}.csv"
    assert got.data == client.get(f"/api/projects/{project}/export?format=csv",
                                  headers=auth()).data
    bad = client.post(f"/api/projects/{project}/jobs", headers=auth(),
                      json={"type": "export", "format": "xml"})
    assert bad.status_code == 400 and "format must be one of" in bad.json["error"]
    not_export = client.get(f"/api/jobs/{jobs[-1]['id']}/download", headers=auth())
    assert not_export.status_code == 400 and "not an export" in not_export.json["error"]
    # a canceled export will never have a file: it says so (not "once finished")
    jid = _job(client, project, "export")
    c = client.post(f"/api/jobs/{jid}/cancel", headers=auth())
    assert c.status_code == 200 and c.json["stopping"] == [], c.json  # queued: canceled
    r2 = client.get(f"/api/jobs/{jid}/download", headers=auth())
    assert r2.status_code == 409 and "start another export" in r2.json["error"], r2.json
    # a project keeps its newest export files only (each is whole in Redis)
    from loop.service.export import EXPORTS_KEPT, export_key

    later = [_job(client, project, "export") for _ in range(EXPORTS_KEPT)]
    run_burst(rconn)
    gone = client.get(f"/api/jobs/{r.json['job_id']}/download", headers=auth())
    assert gone.status_code == 404 and "newest export files" in gone.json["error"]
    for jid in later:
        assert client.get(f"/api/jobs/{jid}/download", headers=auth()).status_code == 200
    assert rconn.llen(f"loop:p:{project}:exports") == EXPORTS_KEPT
    assert len(rconn.keys("loop:export:*")) == EXPORTS_KEPT
    # a frozen run that resumes after its re-run stores the same file again: it is
    # listed once, so no other export loses its place (fault trial: two of three)
    newest = export_key(later[-1])
    store.keep_export(project, newest, b"again", EXPORTS_KEPT, 3600)
    assert [k.decode() for k in rconn.lrange(f"loop:p:{project}:exports", 0, -1)] == [
        export_key(j) for j in reversed(later)]
    for jid in later:
        assert client.get(f"/api/jobs/{jid}/download", headers=auth()).status_code == 200
    # its project deleted (the record gone for a moment here), a download says so
    rconn.rename(f"loop:project:{project}", "loop:test:aside")
    r3 = client.get(f"/api/jobs/{later[0]}/download", headers=auth())
    rconn.rename("loop:test:aside", f"loop:project:{project}")
    assert r3.status_code == 404 and "was deleted" in r3.json["error"], r3.json

    # K=10 answers trigger exactly one pending recalibration (coalesced)
    answer_n(client, project, annotator_token(client, project, "a"), 25, 0)
    jobs = client.get(f"/api/projects/{project}/jobs", headers=auth()).json["jobs"]
    recal = [j for j in jobs if j["type"] == "recalibrate" and j["status"] == "queued"]
    assert len(recal) == 1
    # and the time rule's run for answers short of ten (60 s on): one, scheduled;
    # none where the last run is 60 s old already (a loaded CI machine): then they
    # are due at once, and the queued run takes them in
    at = client.get(f"/api/projects/{project}/metrics",
                    headers=auth()).json["last_recalibrated_at"]
    later = [j for j in jobs if j["type"] == "recalibrate" and j["status"] == "scheduled"]
    if time.time() - float(at) < 55:
        assert len(later) == 1, at
    else:
        assert len(later) <= 1, at
    run_burst(rconn)
    st = _status(client, recal[0]["id"])
    assert st["status"] == "finished" and st["result"]["n_gold"] == 25
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    # a point from the recalibration after applying the LFs, one from the
    # fit_label_model job, one from the automatic recalibration; the end-model
    # retrain it enqueued filled in its end-model score
    assert m["n_gold"] == 25 and len(m["history"]) == 3 and m["last_recalibrated_at"]
    last = m["history"][-1]
    assert last["n_gold"] == 25 and last["label_model"] is not None
    assert last["end_model"] is not None and m["agreement"] is not None
    assert m["since_recalibration"] == 0 and m["recalibration"]["last_error"] is None
    assert m["class_balance"] == {"ham": 25, "spam": 0}
    # requested and automatic jobs are listed apart, and can be asked for apart
    both = client.get(f"/api/projects/{project}/jobs", headers=auth()).json["jobs"]
    asked = client.get(f"/api/projects/{project}/jobs?auto=false", headers=auth()).json["jobs"]
    auto = client.get(f"/api/projects/{project}/jobs?auto=true", headers=auth()).json["jobs"]
    assert len(asked) == 8 + EXPORTS_KEPT and not any(j["auto"] for j in asked)
    assert {"recalibrate", "train_end_model"} <= {j["type"] for j in auto}
    assert all(j["auto"] for j in auto) and len(both) == len(asked) + len(auto)
    # a scheduled run (the time rule's) first, as the next to run; then newest first
    waiting = [j["status"] == "scheduled" for j in both]
    assert waiting == sorted(waiting, reverse=True)
    stamps = [j["enqueued_at"] or j["created_at"] for j in both if j["status"] != "scheduled"]
    assert stamps == sorted(stamps, reverse=True)
    bad = client.get(f"/api/projects/{project}/jobs?auto=maybe", headers=auth())
    assert bad.status_code == 400 and "auto must be true or false" in bad.json["error"]


def test_automatic_jobs_never_push_requested_ones_out(store, project):
    for i in range(3):
        store.record_job(project, f"asked{i}")
    for i in range(80):
        store.record_job(project, f"auto{i}", auto=True)
    assert store.recent_jobs(project, auto=False) == ["asked2", "asked1", "asked0"]
    assert len(store.recent_jobs(project, auto=True)) == 50
    assert store.recent_jobs(project)[:4] == ["asked2", "asked1", "asked0", "auto79"]


def test_frequent_automatic_jobs_are_kept_an_hour_the_others_a_day(rconn, store, project):
    """Soak trial: a recalibration or retrain every few answers, each record about
    7 KB kept a day: 550 MB of Redis at 4 answers a second."""
    from rq import Queue

    q = Queue("loop", connection=rconn)
    kept = {}
    for name, meta in [("recalibrate", {"type": "recalibrate", "auto": True}),
                       ("retrain", {"type": "train_end_model", "auto": True}),
                       ("asked retrain", {"type": "train_end_model"}),
                       ("upload's apply", {"type": "apply_lfs", "auto": True})]:
        job = service_jobs.enqueue_task(q, store, "recalibrate", project,
                                        meta={**meta, "project": project})
        kept[name] = (job.result_ttl, job.failure_ttl)
    assert kept == {"recalibrate": (3600, 86400), "retrain": (3600, 86400),
                    "asked retrain": (86400, 86400), "upload's apply": (86400, 86400)}
    q.empty()


def test_failed_job_reports_error(client, rconn, project):
    from rq import Queue

    from loop.storage import RedisStore

    job = service_jobs.enqueue_task(Queue("loop", connection=rconn), RedisStore(rconn),
                                    "recalibrate", project, 60, False,
                                    meta={"type": "fit_label_model", "project": project})
    job.retries_left = 0
    job.save()
    run_burst(rconn)
    st = _status(client, job.id)
    assert st["status"] == "failed"
    assert "apply the LFs" in st["error"] and "Traceback" in st["traceback"]
    assert st["started_at"] and st["ended_at"]
    # the failure is also on the project's metrics, where the dashboard shows it
    m = client.get(f"/api/projects/{project}/metrics", headers=auth()).json
    assert "apply the LFs" in m["recalibration"]["last_error"]["message"]


def test_a_job_stopped_while_it_ran_says_when_it_ended(rconn, project):
    """API audit: a retrain canceled while it ran read ``status: stopped`` with
    ``ended_at`` null for good, as if it still ran. RQ's worker leaves such a job
    as made here: status stopped, a failure result, no end time of its own."""
    from datetime import UTC, datetime

    from rq import Queue
    from rq.results import Result

    from loop.storage import RedisStore

    job = service_jobs.enqueue_task(Queue("loop", connection=rconn), RedisStore(rconn),
                                    "train_end_model", project, 60, False,
                                    meta={"type": "train_end_model", "project": project})
    job.started_at = datetime.now(UTC)
    job.meta["stop_reason"] = "canceled by an admin"
    job.save()
    job.set_status("stopped")
    Result.create_failure(job, 60, "rq.exceptions.StopRequested: stopped by user")
    st = service_jobs.job_status(rconn, job.id)
    assert st["status"] == "stopped" and st["error"] == "canceled by an admin", st
    assert st["ended_at"] and st["ended_at"] >= st["started_at"], st


def test_a_job_of_a_project_deleted_while_it_waited_fails_once_saying_so(rconn, project):
    """Operator's trial: a recalibration of a project deleted meanwhile failed on its
    missing keys (IndexError), was run twice more, and only then said "no project"."""
    from rq import Queue

    from loop.storage import RedisStore

    job = service_jobs.enqueue_task(Queue("loop", connection=rconn), RedisStore(rconn),
                                    "recalibrate", project, 60, False,
                                    meta={"type": "recalibrate", "project": project})
    rconn.delete(RedisStore.project_key(project))  # deleted, its keys not purged yet
    run_burst(rconn)
    st = service_jobs.job_status(rconn, job.id)
    assert st["status"] == "failed" and st["attempts"] == 1, st
    assert st["error"] == (f"loop.errors.ProjectNotFound: project {project!r} was deleted "
                           "while this job ran; nothing to retry"), st["error"]



def test_an_automatic_refill_finding_items_without_votes_is_skipped_not_failed(
        client, rconn, store, project):
    """Operator's trial: a refill asked for by a short queue failed three times while
    uploads landed (their items had no LF votes yet). It is skipped, saying why; one an
    admin asked for fails once, saying what to run."""
    from rq import Queue
    from svc_helpers import prepare_project

    prepare_project(store, client, project)
    store.add_items(project, [{"id": "new-1", "text": "just uploaded", "fields": {}}], {}, [],
                    first_row=store.n_items(project))
    queue = Queue("loop", connection=rconn)
    auto = service_jobs.enqueue_task(queue, store, "refill_queue", project, 30,
                                     meta={"type": "refill_queue", "project": project,
                                           "auto": True})
    asked = service_jobs.enqueue_task(queue, store, "refill_queue", project, 30,
                                      meta={"type": "refill_queue", "project": project})
    run_burst(rconn)
    st = service_jobs.job_status(rconn, auto.id)
    assert st["status"] == "finished" and st["result"]["skipped"], st
    assert "apply the LFs to every item first" in st["result"]["reason"]
    st = service_jobs.job_status(rconn, asked.id)
    assert st["status"] == "failed" and st["attempts"] == 1, st
    assert "apply the LFs to every item first" in st["error"]

def test_a_broken_lf_module_fails_its_job_once_saying_where(client, rconn, store, tmp_path,
                                                           monkeypatch):
    """New-user trial: a syntax error in the LF module failed apply_lfs after 3 runs
    ("attempts": 3, as if a worker had died twice), its error without file or line."""
    import os
    import sys

    mod = tmp_path / "lfs_edited.py"
    mod.write_text("from loop import labeling_function\n\n@labeling_function()\n"
                   "def one(x):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "e", "labels": ["a", "b"], "lf_module": "lfs_edited"}).json["id"]
    r = client.post(f"/api/projects/{pid}/items", data=b"text\nx\ny\n",
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201
    mod.write_text(mod.read_text() + "\ndef broken(:\n    pass\n")
    sys.modules.pop("lfs_edited", None)  # as in a fresh worker process
    jid = _job(client, pid, "apply_lfs")
    run_burst(rconn)
    st = _status(client, jid)
    assert st["status"] == "failed" and st["attempts"] == 1 and st["ended_at"], st
    assert "lf_module 'lfs_edited' raised SyntaxError on import" in st["error"], st["error"]
    assert "lfs_edited.py, line 7" in st["error"], st["error"]
    # kept where a recalibration waiting for this apply run finds it
    failed = store.get_value(pid, "apply_status")["error"]
    assert "raised SyntaxError on import" in failed["message"], failed


def test_a_running_job_without_progress_is_flagged_stalled(client, rconn, project):
    """A started job is quiet since its last progress report (or its start); past
    ``stall_seconds`` (the API's setting, 120 s) it is ``stalled``. The job's record is
    set as a worker frozen mid-job leaves it (the dashboard's browser test freezes a
    real one)."""
    import time
    from datetime import UTC, datetime

    from rq.job import Job, JobStatus

    jid = _job(client, project, "export")
    job = Job.fetch(jid, connection=rconn)
    job.started_at = datetime.fromtimestamp(time.time() - 600, tz=UTC)
    job.meta["progress"] = {"done": 1, "total": 2, "at": time.time() - 30}
    job.save()
    job.set_status(JobStatus.STARTED)
    st = _status(client, jid)
    assert st["progress"] == {"done": 1, "total": 2}
    assert 29 <= st["quiet_seconds"] < 60 and st["stalled"] is False
    job.meta["progress"]["at"] = time.time() - 200
    job.save_meta()
    st = _status(client, jid)
    assert 199 <= st["quiet_seconds"] < 260 and st["stalled"] is True
    listed = client.get(f"/api/projects/{project}/jobs", headers=auth()).json["jobs"]
    assert next(j for j in listed if j["id"] == jid)["stalled"] is True


def test_a_job_no_worker_takes_is_flagged_stalled(client, rconn, project):
    """Fault trial: with every worker frozen, a queued job only ever said "queued";
    past ``stall_seconds`` of waiting it is ``stalled`` too (quiet since queued)."""
    import time
    from datetime import UTC, datetime

    from rq.job import Job

    jid = _job(client, project, "export")
    st = _status(client, jid)
    assert st["status"] == "queued" and st["quiet_seconds"] < 60 and st["stalled"] is False
    job = Job.fetch(jid, connection=rconn)
    job.enqueued_at = datetime.fromtimestamp(time.time() - 300, tz=UTC)
    job.save()
    st = _status(client, jid)
    assert st["status"] == "queued" and 299 <= st["quiet_seconds"] < 360 and st["stalled"]


def test_a_scheduled_job_says_when_it_is_due_and_is_stalled_when_no_scheduler_moves_it(
        client, rconn, project):
    """A delayed recalibration (answers within the minimum gap, or the time rule's)
    said only "scheduled": not when it runs, nor that no scheduler ever queued it
    (CI: a test waited 60 s on one due 58 s on). ``scheduled_for`` says when; past
    it, the job is quiet since then and ``stalled`` past ``stall_seconds``."""
    import time
    from datetime import UTC, datetime

    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from loop.service.jobs import enqueue_task
    from loop.storage import RedisStore

    job = enqueue_task(Queue("loop", connection=rconn), RedisStore(rconn), "recalibrate",
                       project, meta={"type": "recalibrate", "project": project,
                                      "auto": True}, delay=30)
    st = _status(client, job.id)
    due = datetime.fromisoformat(st["scheduled_for"]).timestamp()
    assert st["status"] == "scheduled" and 28 <= due - time.time() <= 31
    assert st["quiet_seconds"] is None and st["stalled"] is False
    # its time came 300 s ago and no scheduler has queued it
    ScheduledJobRegistry("loop", connection=rconn).schedule(
        job, datetime.fromtimestamp(time.time() - 300, tz=UTC))
    st = _status(client, job.id)
    assert st["status"] == "scheduled" and 299 <= st["quiet_seconds"] < 360 and st["stalled"]
    listed = client.get(f"/api/projects/{project}/jobs", headers=auth()).json["jobs"]
    assert next(j for j in listed if j["id"] == job.id)["scheduled_for"] == st["scheduled_for"]


@pytest.mark.slow
def test_an_apply_run_waiting_for_its_merge_is_quiet_since_the_merge_was_queued(
        client, rconn, project):
    """Operator's trial: an apply run whose units finished after an outage showed
    ``queued`` and ``stalled`` at once, quiet since the run was asked for, not since
    its merge was queued. The records are set as the outage leaves them."""
    import time
    from datetime import UTC, datetime

    from rq.job import Job, JobStatus

    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    jid = _job(client, project, "apply_lfs")
    run_burst(rconn)
    plan = Job.fetch(jid, connection=rconn)
    plan.enqueued_at = datetime.fromtimestamp(time.time() - 900, tz=UTC)
    plan.save()
    merge = Job.fetch(plan.meta["merge_job"], connection=rconn)
    merge.enqueued_at = datetime.fromtimestamp(time.time() - 5, tz=UTC)
    merge.save()
    merge.set_status(JobStatus.QUEUED)
    st = _status(client, jid)
    assert st["status"] == "deferred" and 4 <= st["quiet_seconds"] < 60, st
    assert st["stalled"] is False and st["waiting_for_worker"] is True


def test_a_run_that_resumes_after_its_re_run_finished_keeps_that_runs_outcome(rconn):
    """Fault trial: a worker frozen (SIGSTOP) mid-recalibration past its liveness; the
    job was re-run by another worker and completed; the frozen run then resumed, found
    its lock gone, was skipped, and RQ wrote that over the job's one record."""
    import time

    from rq import Queue
    from rq.results import Result

    from loop.service import tasks

    job = Queue("outlived", connection=rconn).enqueue("builtins.print", "x")
    first, second = time.time() - 30, time.time() - 10
    job.meta["starts"] = [first, second]
    job.save_meta()
    done = {"id": "point-7", "n_gold": 10}
    Result.create(job, Result.Type.SUCCESSFUL, ttl=60, return_value=done)  # the re-run's
    skip = {"skipped": True, "reason": "this recalibration lost its lock at its end"}
    tasks.RUN_STARTED[job.id] = first  # the frozen, first run
    assert tasks._outlived(job, skip) == done
    tasks.RUN_STARTED[job.id] = second  # the re-run itself, skipped for its own reasons
    assert tasks._outlived(job, skip) == skip
    tasks.RUN_STARTED[job.id] = first
    assert tasks._outlived(job, {"n_gold": 12}) == {"n_gold": 12}  # not skipped: its own
    Result.create(job, Result.Type.FAILED, ttl=60, exc_string="boom")
    assert tasks._outlived(job, skip) == skip  # the later run failed: nothing to keep


def test_a_job_rq_is_about_to_queue_reads_as_queued_and_live(app, rconn, project):
    """New-user trial: an apply run's merge showed RQ 3's internal status
    ``ready_to_enqueue`` (its units done, RQ moving it to the queue), which the API
    does not list, and which the checks for a live run counted as ended."""
    from rq import Queue
    from rq.job import JobStatus

    job = Queue("loop", connection=rconn).enqueue("builtins.len", "abc")
    job.set_status(JobStatus.READY_TO_ENQUEUE)
    assert job.get_status(refresh=True) == "ready_to_enqueue"
    assert service_jobs.job_status(rconn, job.id)["status"] == "queued"
    assert service_jobs.live_job(rconn, job.id)


def test_an_admins_recalibration_counts_the_end_models_steps_in_its_progress(
        client, rconn, project, monkeypatch):
    """New-user trial: an admin's recalibration said 100% (its label model's 2 of 2
    steps) and then trained the end model for as long again."""
    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    client.post(f"/api/projects/{project}/jobs", headers=auth(), json={"type": "apply_lfs"})
    run_burst(rconn)
    seen = []
    from rq.job import Job

    real = Job.save_meta

    def spy(job):  # each progress report, as the job stores it
        if job.meta.get("type") == "recalibrate" and "progress" in job.meta:
            seen.append((job.meta["progress"]["done"], job.meta["progress"]["total"]))
        return real(job)

    jid = _job(client, project, "recalibrate")
    monkeypatch.setattr(Job, "save_meta", spy)
    run_burst(rconn)
    st = _status(client, jid)
    assert st["status"] == "finished" and st["result"]["end_model"] is not None, st
    steps = 2 + models.END_MODEL_STEPS  # the fast path's 2, then the retrain's
    assert st["progress"] == {"done": steps, "total": steps}
    # no gold weight to choose here (every uploaded label held out, no answer): the
    # retrain's steps of its cross-validation are passed over at once
    assert seen == [(1, steps), (2, steps), (3, steps), (steps - 1, steps), (steps, steps)], seen


def test_apply_runs_asked_for_at_once_are_one_run(app, client, project, monkeypatch):
    """Concurrency trial: four "apply_lfs" requests at once (a double click, two
    admins saving rules) made four runs, each recalibrating after it; the run
    queued and not yet started is returned instead, however close the requests."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    looked = service_jobs.waiting_job
    together = threading.Barrier(4)

    def slow_look(*a):  # each request looks before any of them enqueued
        try:
            together.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass
        return looked(*a)

    monkeypatch.setattr(service_jobs, "waiting_job", slow_look)

    def ask(_):
        r = app.test_client().post(f"/api/projects/{project}/jobs", headers=auth(),
                                   json={"type": "apply_lfs", "recalibrate": True})
        assert r.status_code == 202, r.json
        return r.json["job_id"]

    with ThreadPoolExecutor(4) as ex:
        ids = set(ex.map(ask, range(4)))
    assert len(ids) == 1, ids


def test_export_files_sent_at_once_are_bounded_so_the_rest_is_answered(client, rconn, project):
    """Slow-reader trial: 20 scripts reading a 60,000-item export at 40 KB/s each
    held a thread of the web process until they had read it all, every thread of
    both processes: /healthz, the pages and the annotators' answers waited 20 s and
    more. Now a web process sends at most ``FILE_SLOTS`` export files at once (the
    direct export and an export job's download alike); one more is a 429 with
    Retry-After, the other requests are answered meanwhile, and a slot is free
    again once its file is read to the end or its reader gone."""
    from loop.web.api import FILE_SLOTS

    client.post(f"/api/projects/{project}/items?{HELD_OUT_QUERY}",
                data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    job = _job(client, project, "export")
    run_burst(rconn)
    url = f"/api/projects/{project}/export?format=jsonl"
    download = _status(client, job)["result"]["download"]
    # readers that have not read their file yet: each holds its slot
    reading = [client.get(url, headers=auth()) for _ in range(FILE_SLOTS - 1)]
    reading.append(client.get(download, headers=auth()))
    assert all(r.status_code == 200 for r in reading)
    for other in (url, download):
        r = client.get(other, headers=auth())
        assert r.status_code == 429 and r.headers["Retry-After"] == "2", r.json
        assert "export files are being sent" in r.json["error"], r.json
    # the rest is answered meanwhile
    assert client.get(f"/api/projects/{project}", headers=auth()).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/api/projects/{project}/export?format=xml",
                      headers=auth()).status_code == 400
    # read to its end: its slot is free, and the file was whole
    whole = reading.pop(0).get_data()
    assert len(whole.splitlines()) == 350 and whole.endswith(b"\n")
    again = client.get(url, headers=auth())
    assert again.status_code == 200 and again.get_data() == whole
    # a reader gone before the end frees its slot too
    reading.pop().close()
    assert client.get(download, headers=auth()).get_data() == whole
