"""Work stored and never asked for (the web process killed between the two) is asked
for by the workers' reconciler. Each case stores through the service functions the
API calls, without the request's second step, as a SIGKILL there leaves it (the
operator's trial injected it with strace), then runs real RQ jobs."""

from __future__ import annotations

from typing import Any

import pytest
from rq import Queue
from svc_helpers import annotator_token, auth, prepare_project, run_burst

from loop.service import queue as queue_service
from loop.service import rules
from loop.service.reconcile import apply_wanted, reconcile
from loop.service.settings import Settings


def _reconcile(rconn) -> list[str]:
    return reconcile(rconn, Queue("loop", connection=rconn), Settings())


@pytest.mark.slow
def test_a_rule_saved_without_its_apply_run_is_applied(client, store, rconn, project):
    pid = prepare_project(store, client, project)
    run_burst(rconn)
    assert apply_wanted(store, pid) is None and _reconcile(rconn) == []
    # saved, and the web process killed before it asked for the apply run
    rules.create_rule(store, pid, {"name": "lost1", "label": 1, "kind": "keywords",
                                   "keywords": ["subscribe"]})
    assert "lost1" not in store.L_meta(pid)["lf_names"]
    assert "rules changed" in apply_wanted(store, pid)
    asked = _reconcile(rconn)
    assert len(asked) == 1 and _reconcile(rconn) == []  # one run queued: not a second
    listed = client.get(f"/api/projects/{pid}/jobs?auto=true", headers=auth()).json["jobs"]
    assert asked[0] in [j["id"] for j in listed]  # the service's, not the user's
    run_burst(rconn)
    assert "lost1" in store.L_meta(pid)["lf_names"]
    assert apply_wanted(store, pid) is None and _reconcile(rconn) == []
    # switched off, the same: its votes leave the models; here asked for as a
    # worker's liveness beat does (one worker per 30 s, in a thread of its own)
    import time

    from loop.service.worker import LoopWorker

    rules.update_rule(store, pid, "lost1", {"enabled": False})
    q = Queue("loop", connection=rconn)
    LoopWorker([q], connection=rconn)._maybe_reconcile()
    end = time.time() + 10
    while not q.count and time.time() < end:
        time.sleep(0.05)
    assert q.count == 1 and rconn.ttl("loop:reconciler") > 20
    LoopWorker([q], connection=rconn)._maybe_reconcile()  # not again within 30 s
    run_burst(rconn)
    assert "lost1" not in store.L_meta(pid)["lf_names"] and _reconcile(rconn) == []


@pytest.mark.slow
def test_items_uploaded_without_their_apply_run_get_votes(client, store, rconn, project):
    pid = prepare_project(store, client, project)
    run_burst(rconn)
    n0 = store.L_meta(pid)["n_items"]
    more = "COMMENT_ID,CONTENT,CLASS\nnew-1,check out my channel,\nnew-2,great song,\n"
    r = client.post(f"/api/projects/{pid}/items", data=more,
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    # the upload's apply run never enqueued (the process died after the items)
    for jid in Queue("loop", connection=rconn).get_job_ids():
        Queue("loop", connection=rconn).remove(jid)
    rconn.delete(f"loop:apply_pending:{pid}:1", f"loop:apply_pending:{pid}:0")
    assert "2 items have no LF votes" in apply_wanted(store, pid)
    assert len(_reconcile(rconn)) == 1
    run_burst(rconn)
    assert store.L_meta(pid)["n_items"] == n0 + 2 and apply_wanted(store, pid) is None


@pytest.mark.slow
def test_an_answer_stored_without_its_recalibration_reaches_the_models(
        client, store, rconn, project):
    pid = prepare_project(store, client, project)
    run_burst(rconn)
    tok = annotator_token(client, pid, "ann")
    got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(tok)).json
    # stored, then the process killed before it asked for the recalibration
    out = queue_service.answer(store, pid, "ann", got["item"]["id"], 1, got["lease"]["id"])
    assert out["since_recal"] == 1 and store.recal_requested_at(pid) is None
    # ... or killed after the note that a run was asked for, before the job (fault
    # re-trial: the note alone held the reconciler back for good)
    import time

    store.mark_recal_requested(pid, time.time())
    asked = _reconcile(rconn)
    assert len(asked) == 1  # the time rule's run, for one answer short of ten
    assert store.recal_requested_at(pid) is not None and _reconcile(rconn) == []
    # it runs when due (here at once, by the scheduler's burst)
    from rq.registry import ScheduledJobRegistry
    from svc_helpers import burst_worker

    q = Queue("loop", connection=rconn)
    reg = ScheduledJobRegistry(queue=q)
    for jid in reg.get_job_ids():
        q.enqueue_job(q.fetch_job(jid))
        reg.remove(jid)
    burst_worker([q], rconn).work(burst=True)
    assert store.since_recal(pid) == 0
    assert store.model_summary(pid, "label_model")["n_gold"] == 1


@pytest.mark.slow
def test_a_running_apply_covers_a_change_only_if_it_read_it(client, store, rconn, project):
    """An apply run already running covers a rule saved meanwhile only if it planned
    after the save (it reads the rules when it plans); while it plans, it does."""
    from rq.job import JobStatus

    from loop.service.jobs import claim_apply, enqueue_apply

    pid = prepare_project(store, client, project)
    run_burst(rconn)
    before = store.rules_version(pid)
    rules.create_rule(store, pid, {"name": "late", "label": 1, "kind": "keywords",
                                   "keywords": ["subscribe"]})
    q = Queue("loop", connection=rconn)
    job = enqueue_apply(q, store, pid, 10000, 300, 30)
    claim_apply(store, pid, True, job.id)  # started: no longer waiting in the queue
    job.set_status(JobStatus.STARTED)
    assert apply_wanted(store, pid) is None  # planning now: it reads the new rule
    n = store.n_items(pid)
    job.meta["L_version"] = 99
    job.save_meta()
    store.save_apply_plan(pid, 99, {"n_items": n, "rules_version": before})
    assert "rules changed" in apply_wanted(store, pid)  # planned before the save
    store.save_apply_plan(pid, 99, {"n_items": n, "rules_version": before + 1})
    assert apply_wanted(store, pid) is None  # planned with it


def test_a_run_that_failed_on_the_module_is_asked_again_once_it_is_fixed(
        client, store, rconn, tmp_path, monkeypatch):
    """New-user trial: a rule saved while the LF module had a syntax error was not
    applied 90 s after the module was fixed (a failed run is asked for again only
    after ``AFTER_FAILURE``, 10 minutes). A module written after the failure is
    reason enough to try at once."""
    import importlib
    import os
    import sys
    import time

    from svc_helpers import apply_lfs_in_process

    from loop.errors import BadRequest

    mod = "lfs_fixed_later"
    good = ("from loop import ABSTAIN, labeling_function\n\n@labeling_function()\n"
            "def has_link(x):\n    return 1 if 'http' in x.text else ABSTAIN\n")
    path = tmp_path / f"{mod}.py"

    def write(src: str, at: float) -> None:
        path.write_text(src)
        os.utime(path, (at, at))
        sys.modules.pop(mod, None)
        importlib.invalidate_caches()

    write(good, time.time() - 100)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}")
    r = client.post("/api/projects", headers=auth(), json={
        "name": "fixed", "labels": ["ham", "spam"], "lf_module": mod, "text_field": "CONTENT"})
    pid = r.json["id"]
    prepare_project(store, client, pid)
    write("def (:\n", time.time() - 50)  # broken; then a rule saved, its run fails
    rules.create_rule(store, pid, {"name": "says_sub", "label": 1, "kind": "keywords",
                                   "keywords": ["subscribe"]})
    from loop.service.tasks import record_failure

    with pytest.raises(BadRequest, match="SyntaxError") as failed:
        apply_lfs_in_process(store, pid)
    record_failure(store, pid, "apply_status", failed.value)
    assert apply_wanted(store, pid) is None  # it would fail alike: not asked again
    write("def (:\n", time.time())  # saved again, as broken: still not
    assert apply_wanted(store, pid) is None
    write(good, time.time() - 100)  # fixed: a copy put back with its old time (cp -p)
    assert "rules changed" in apply_wanted(store, pid)
    assert len(_reconcile(rconn)) == 1
    run_burst(rconn)
    assert "says_sub" in store.L_meta(pid)["lf_names"]


@pytest.mark.slow
def test_an_apply_run_an_admin_canceled_is_not_started_again_until_something_changes(
        client, store, rconn, project):
    """Re-trial: an apply run canceled (a slow LF) was started again by the reconciler
    30 s later ("rules changed since the LFs were applied"), though the page said
    "start it again when you are ready"."""
    pid = prepare_project(store, client, project)
    run_burst(rconn)
    r = client.post(f"/api/projects/{pid}/rules", headers=auth(), json={
        "name": "slowish", "label": 1, "kind": "keywords", "keywords": ["subscribe"]})
    assert r.status_code == 201
    jid = r.json["job_id"]
    assert client.post(f"/api/jobs/{jid}/cancel", headers=auth()).status_code == 200
    st = client.get(f"/api/jobs/{jid}", headers=auth()).json
    assert st["status"] == "canceled" and st["error"] == "canceled by an admin", st
    assert apply_wanted(store, pid) is None and _reconcile(rconn) == []
    # a rule saved since: wanted again (the reconciler covers a lost request as ever)
    rules.create_rule(store, pid, {"name": "lost2", "label": 1, "kind": "keywords",
                                   "keywords": ["check out"]})
    assert "rules changed" in apply_wanted(store, pid)
    assert len(_reconcile(rconn)) == 1
    run_burst(rconn)
    assert {"slowish", "lost2"} <= set(store.L_meta(pid)["lf_names"])


@pytest.mark.slow
def test_an_end_model_whose_retrain_failed_for_good_is_retrained(
        client, store, rconn, project):
    """Service trial: a retrain whose work horse was killed on each of its tries
    failed for good, and nothing asked for another until the next answer: the end
    model (the export's labels, the queue's ranking) kept missing the last answers,
    while /metrics said no error and nothing overdue."""
    from svc_helpers import burst_worker

    from loop.service.worker import LoopWorker

    pid, q, recal = _one_answer_and_no_jobs(client, store, rconn, project)
    out = recal.run(pid)  # the label model takes the answer in, and asks for a retrain
    assert store.model_summary(pid, "label_model")["n_gold"] == 1 and "id" in out
    (retrain,) = [q.fetch_job(j) for j in q.get_job_ids()]
    assert retrain.meta["type"] == "train_end_model"
    # its work horse dies on its last try: RQ fails it for good
    q.remove(retrain.id)
    worker = LoopWorker([q], connection=rconn)
    retrain.retries_left = 0
    worker.handle_job_failure(retrain, q, exc_string="Work-horse terminated unexpectedly; "
                              "waitpid returned 9 (signal 9); ")
    assert retrain.get_status(refresh=True) == "failed" and not q.count
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert "died" in m["end_model_training"]["last_error"]["message"]
    assert "no tries left" in m["end_model_training"]["last_error"]["message"]  # not "run again"
    store.clear_flag(pid, "end_model_pending")  # run out (a minute)
    assert store.model_summary(pid, "end_model")["n_gold"] == 0
    # once the error is old enough to try again, the reconciler asks for a retrain:
    # 10 minutes after one failure, twice as long after each more in a row (operator's
    # soak: a retrain failing alike was refitted every 10 minutes for good)
    import time

    err = store.get_value(pid, "end_model_status")
    assert err["error"]["n_failures"] == 1
    err["error"]["n_failures"] = 4  # 80 minutes
    err["error"]["at"] = time.time() - 3600
    store.set_value(pid, "end_model_status", err)
    assert _reconcile(rconn) == []
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    last = m["end_model_training"]["last_error"]
    assert last["n_failures"] == 4 and last["retry_at"] == err["error"]["at"] + 4800
    assert m["end_model_training"]["n_gold"] == 0  # left behind the answer
    err["error"]["at"] = time.time() - 4900
    store.set_value(pid, "end_model_status", err)
    asked = _reconcile(rconn)
    assert len(asked) == 1 and _reconcile(rconn) == []  # one retrain, not a second
    assert q.fetch_job(asked[0]).meta["type"] == "train_end_model"
    burst_worker([q], rconn).work(burst=True)
    assert store.model_summary(pid, "end_model")["n_gold"] == 1
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert m["end_model_training"]["last_error"] is None
    assert _reconcile(rconn) == []


@pytest.mark.slow
def test_an_admins_retrain_that_failed_for_good_is_followed_up_too(
        client, store, rconn, project):
    """Service trial, left over: only automatic retrains were followed up, so an
    admin's train_end_model (or recalibrate) whose work horse died on every try left
    the end model behind the label model until the next answer."""
    import time

    from svc_helpers import burst_worker

    from loop.service.worker import LoopWorker

    pid, q, recal = _one_answer_and_no_jobs(client, store, rconn, project)
    recal.run(pid)  # the label model takes the answer in (its retrain is dropped below)
    for jid in q.get_job_ids():
        q.remove(jid)
    store.clear_flag(pid, "end_model_pending")
    r = client.post(f"/api/projects/{pid}/jobs", json={"type": "train_end_model"},
                    headers=auth())
    assert r.status_code == 202, r.json
    admin_job = q.fetch_job(r.json["job_id"])
    q.remove(admin_job.id)
    admin_job.retries_left = 0
    LoopWorker([q], connection=rconn).handle_job_failure(
        admin_job, q, exc_string="Work-horse terminated unexpectedly; waitpid returned 9; ")
    assert admin_job.get_status(refresh=True) == "failed"
    err = store.get_value(pid, "end_model_status")
    err["error"]["at"] = time.time() - 3600  # old enough to try again
    store.set_value(pid, "end_model_status", err)
    asked = _reconcile(rconn)
    assert len(asked) == 1 and q.fetch_job(asked[0]).meta["type"] == "train_end_model"
    burst_worker([q], rconn).work(burst=True)
    assert store.model_summary(pid, "end_model")["n_gold"] == 1
    assert _reconcile(rconn) == []


@pytest.mark.slow
def test_a_retrain_an_admin_canceled_is_not_started_again(client, store, rconn, project):
    """Re-trial: the reconciler retrained an end model whose last retrain "failed or
    stopped", and only cancel stops a job: a retrain an admin canceled while it ran
    (a minute at 200,000 items) was asked for again at the next pass, 30 s later,
    with no error to wait on. A cancel holds, as an apply run's does; the next
    answer's recalibration asks for a retrain."""

    pid, q, recal = _one_answer_and_no_jobs(client, store, rconn, project)
    recal.run(pid)
    (retrain,) = [q.fetch_job(j) for j in q.get_job_ids()]
    q.remove(retrain.id)
    # as cancel() leaves a running job: its reason noted, RQ's status "stopped"
    retrain.meta["stop_reason"] = "canceled by an admin"
    retrain.save_meta()
    retrain.set_status("stopped")
    store.clear_flag(pid, "end_model_pending")
    assert store.model_summary(pid, "end_model")["n_gold"] == 0
    assert _reconcile(rconn) == []


def _one_answer_and_no_jobs(client, store, rconn, project) -> tuple[str, Queue, Any]:
    """A project with models and one answer none took in yet, its queue of jobs
    emptied; a recalibrator that enqueues on that queue."""
    from loop.service.jobs import enqueuer
    from loop.service.recalibration import RecalibrationPolicy, Recalibrator

    pid = prepare_project(store, client, project, end_model=True)
    run_burst(rconn)
    tok = annotator_token(client, pid, "ann")
    got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(tok)).json
    queue_service.answer(store, pid, "ann", got["item"]["id"], 1, got["lease"]["id"])
    q = Queue("loop", connection=rconn)
    for jid in q.get_job_ids():
        q.remove(jid)
    return pid, q, Recalibrator(store, enqueuer(q, store), RecalibrationPolicy(), 30)
