"""The recalibration policy and its coordination: one decision, self-healing."""

from __future__ import annotations

import time

import pytest
from svc_helpers import annotator_token, answer_n, auth, prepare_project, run_burst

from loop.service.recalibration import LOCK_TIMEOUT, RecalibrationPolicy, Recalibrator


def test_policy():
    p = RecalibrationPolicy(every=10, seconds=0, min_gap=5)
    assert not p.due(0, None) and not p.due(9, None) and p.due(10, None)
    t = RecalibrationPolicy(every=0, seconds=30)
    assert t.needs_clock(1) and not t.due(1, 10.0) and t.due(1, 31.0) and t.due(1, None)
    assert not t.due(0, 100.0)
    both = RecalibrationPolicy(every=10, seconds=30)
    assert not both.needs_clock(10) and both.due(10, 1.0)


@pytest.fixture
def ready(store, client, project):
    return prepare_project(store, client, project)


def _recal(store, enqueued, min_gap=0.0):
    def enqueue(func, pid, *args, meta, delay=None):
        enqueued.append((func, args) if delay is None else (func, args, delay))
        return f"job-{len(enqueued)}"

    return Recalibrator(store, enqueue, RecalibrationPolicy(every=10, min_gap=min_gap), 30)


def _started(store, pid):
    """A worker takes the automatic recalibration the answers queued (the tests run
    it in-process): while it waits, a new request is answered with it."""
    from rq.job import Job, JobStatus

    jid = store.get_value(pid, "recal_auto_job")
    if isinstance(jid, str) and not jid.startswith("job-"):
        Job.fetch(jid, connection=store.r).set_status(JobStatus.STARTED)


def test_one_request_while_one_is_pending(store, ready):
    jobs: list = []
    r = _recal(store, jobs)
    assert r.answer_arrived(ready, 9) is None
    assert r.answer_arrived(ready, 10) == "job-1"
    assert r.answer_arrived(ready, 11) is None  # pending: coalesced
    store.clear_flag(ready, "recal_pending")  # the job started
    assert r.answer_arrived(ready, 12) == "job-2"
    assert store.r.pttl(store._k(ready, "flag", "recal_pending")) <= 60_000


def test_a_run_that_ends_with_answers_waiting_asks_for_another(store, client, ready,
                                                              monkeypatch):
    from loop.service import models

    jobs: list = []
    r = _recal(store, jobs)
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 12, 0)
    _started(store, ready)
    out = r.run(ready)
    assert out["n_gold"] == 12 and store.since_recal(ready) == 0
    assert [f for f, _ in jobs] == ["retrain_end_model"]
    # ten answers arrive while the next run is fitting: they stay counted, and the
    # run asks for one more recalibration when it ends
    answer_n(client, ready, tok, 10, 0)
    real = models.recalibrate

    def answers_meanwhile(*a, **kw):
        out = real(*a, **kw)
        answer_n(client, ready, tok, 10, 1)
        return out

    monkeypatch.setattr(models, "recalibrate", answers_meanwhile)
    jobs.clear()
    store.clear_flag(ready, "end_model_pending")
    _started(store, ready)
    r.run(ready)
    assert store.since_recal(ready) == 10
    assert [f for f, _ in jobs] == ["retrain_end_model", "recalibrate"]


def test_undone_and_changed_answers_count_towards_the_next_recalibration(store, client,
                                                                         ready):
    """Withdrawn or changed gold is as new to the models as a new answer: 10 relabels
    and undos after a run make the next one due (they counted nothing before)."""
    jobs: list = []
    r = _recal(store, jobs)
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)
    r.run(ready)
    assert store.since_recal(ready) == 0
    mine = client.get(f"/api/projects/{ready}/queue/me", headers=auth(tok)).json["history"]
    for iid in mine[:5]:
        got = client.post(f"/api/projects/{ready}/queue/relabel", headers=auth(tok),
                          json={"item_id": iid, "label": 1}).json
        assert got["changed"]
    client.post(f"/api/projects/{ready}/queue/relabel", headers=auth(tok),
                json={"item_id": mine[0], "label": 1})  # the same label: no change
    assert store.since_recal(ready) == 5
    for _ in range(5):
        assert client.post(f"/api/projects/{ready}/queue/undo", headers=auth(tok)).status_code \
            == 200
    assert store.since_recal(ready) == 10
    # the service's own recalibrator was asked, by the last undo (now, or at the end
    # of its minimum gap)
    assert store.has_flag(ready, "recal_pending") or store.has_flag(ready, "recal_scheduled")


def test_a_run_asked_for_while_another_took_everything_in_is_skipped(store, client, ready):
    """Re-trial: the runs queued while a frozen one held the lock each ran, giving
    three history points at one gold count."""
    r = _recal(store, [])
    answer_n(client, ready, annotator_token(client, ready, "a"), 10, 0)
    assert "skipped" not in r.run(ready, auto=True)
    points = len(store.metrics_history(ready))
    store.mark_recal_requested(ready, time.time())  # as by a canceled run's check
    out = r.run(ready, auto=True)  # nothing changed since
    assert out == {"skipped": True, "reason": "nothing changed since the last recalibration"}
    # nothing is owed: the dashboard said "waiting for a worker" a minute later
    assert store.recal_requested_at(ready) is None
    store.mark_recal_requested(ready, time.time() + 30)  # the time rule's, for later
    r.run(ready, auto=True)
    assert store.recal_requested_at(ready) is not None
    assert len(store.metrics_history(ready)) == points
    assert not store.is_locked(ready, "recal")
    assert "skipped" not in r.run(ready)  # what an admin asks for runs
    assert "skipped" not in r.run(ready, full=True)
    jobs: list = []
    _started(store, ready)
    _recal(store, jobs).request(ready)
    assert jobs[0][1][-1] is True  # the policy's requests are auto


def test_within_the_minimum_gap_one_run_is_scheduled_for_its_end(store, ready):
    jobs: list = []
    r = _recal(store, jobs, min_gap=5)
    assert r.answer_arrived(ready, 10) == "job-1"
    store.clear_flag(ready, "recal_pending")  # the job started
    # answers due within the gap: not dropped, one run scheduled for the gap's end
    assert r.answer_arrived(ready, 20) == "job-2"
    func, _, delay = jobs[-1]
    assert func == "recalibrate" and 0 < delay <= 5
    assert r.answer_arrived(ready, 30) is None  # already scheduled
    assert r.request(ready, after_run=True) is None  # a run's own request: the same one
    assert len(jobs) == 2
    # the scheduled run starts: the next gap may schedule again
    store.clear_flag(ready, "recal_pending")
    store.clear_flag(ready, "recal_scheduled")
    assert r.request(ready, after_run=True) == "job-3"


@pytest.mark.slow
def test_answers_just_after_a_run_are_recalibrated_without_more_answers(
        store, client, ready, redis_url, tmp_path):
    """With real worker processes (one runs RQ's scheduler): ten answers trigger a
    run; ten more within the minimum gap (5 s) after it, then silence: they are
    recalibrated at the end of the gap, not left until someone answers again."""
    import subprocess

    from svc_helpers import auth, rq_worker_cmd, worker_env

    log = open(tmp_path / "w.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(rq_worker_cmd(redis_url, "--name", "w-gap"), env=worker_env(redis_url),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        tok = annotator_token(client, ready, "a")

        def history() -> list:
            return client.get(f"/api/projects/{ready}/metrics", headers=auth()).json["history"]

        def wait_for(n_gold: int, timeout: float) -> float:
            t0 = time.time()
            while time.time() - t0 < timeout:
                h = history()
                if h and h[-1]["n_gold"] == n_gold and store.since_recal(ready) == 0:
                    return time.time() - t0
                time.sleep(0.2)
            raise AssertionError(f"no recalibration with {n_gold} gold after {timeout} s: "
                                 f"since_recal={store.since_recal(ready)}, last={history()[-1:]}")

        answer_n(client, ready, tok, 10, 0)
        wait_for(10, 60)
        answer_n(client, ready, tok, 10, 1)  # within the 5 s gap after that run
        waited = wait_for(20, 30)
        assert waited < 20, waited
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_a_crashed_run_leaves_the_answers_due(store, client, ready, monkeypatch):
    from loop.service import models

    jobs: list = []
    r = _recal(store, jobs)
    answer_n(client, ready, annotator_token(client, ready, "a"), 10, 0)

    def crash(*a, **kw):
        raise RuntimeError("worker lost its mind")

    monkeypatch.setattr(models, "recalibrate", crash)
    with pytest.raises(RuntimeError):
        r.run(ready)
    assert store.since_recal(ready) == 10  # not consumed
    assert not store.is_locked(ready, "recal")  # released on the way out
    st = store.get_value(ready, "recal_status")
    assert "worker lost its mind" in st["error"]["message"]
    assert r.answer_arrived(ready, 11) is not None  # the next answer asks again


def test_a_run_frozen_past_its_lock_writes_nothing_over_the_run_that_took_over(
        store, client, ready, monkeypatch):
    """Operator trial: a recalibration's process SIGSTOPped past the lock's TTL, then
    SIGCONTed, put its n_gold 30 label model over the n_gold 70 one of the run that
    took over, and drove the answers-since counter to -10."""
    from loop.service import models

    jobs: list = []
    frozen, other = _recal(store, jobs), _recal(store, [])
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)
    real = models.loop_step
    history = len(store.metrics_history(ready))

    def freeze(*a, **kw):
        out = real(*a, **kw)  # fitted on 10 answers; then the process is frozen:
        store.r.delete(store._k(ready, "lock", "recal"))  # its lock expires,
        answer_n(client, ready, tok, 10, 1)  # answers come in, another run takes over
        monkeypatch.setattr(models, "loop_step", real)
        assert other.run(ready)["n_gold"] == 20
        return out  # ... and the frozen one resumes

    monkeypatch.setattr(models, "loop_step", freeze)
    out = frozen.run(ready)
    assert out["skipped"] and "lost its lock" in out["reason"]
    assert store.model_summary(ready, "label_model")["n_gold"] == 20
    assert store.since_recal(ready) == 0
    assert [h["n_gold"] for h in store.metrics_history(ready)[history:]] == [20]
    assert store.get_value(ready, "recal_status")["error"] is None  # not a failure

    # the store's own fence: a model of older state never replaces a newer one
    summary = store.model_summary(ready, "label_model")
    proba = store.load_proba(ready, "label_model", 2)
    older = {**summary, "n_gold": 10, "state_version": summary["state_version"] - 1}
    assert not store.save_model(ready, "label_model", proba * 0 + 0.5, older)
    assert store.model_summary(ready, "label_model") == summary
    assert (store.load_proba(ready, "label_model", 2) == proba).all()


def test_a_run_frozen_just_after_its_model_write_adds_no_point_and_counts_nothing(
        store, client, ready, monkeypatch):
    """The same pause, after the model was written: the re-trial drove the answers-since
    counter to -10 and put an n_gold 160 point after the 200 one."""
    from loop.service import models

    frozen, other = _recal(store, []), _recal(store, [])
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)
    real = models.publish_ranking
    history = len(store.metrics_history(ready))

    def freeze(*a, **kw):  # the model is written; then the process is frozen
        out = real(*a, **kw)
        store.r.delete(store._k(ready, "lock", "recal"))
        answer_n(client, ready, tok, 10, 1)
        monkeypatch.setattr(models, "publish_ranking", real)
        assert other.run(ready)["n_gold"] == 20
        return out

    monkeypatch.setattr(models, "publish_ranking", freeze)
    out = frozen.run(ready)
    assert out["skipped"] and "lost its lock" in out["reason"]
    assert store.since_recal(ready) == 0
    assert [h["n_gold"] for h in store.metrics_history(ready)[history:]] == [20]
    assert store.model_summary(ready, "label_model")["n_gold"] == 20


def test_an_end_model_retrain_frozen_past_its_lock_writes_nothing(store, client, ready,
                                                                   monkeypatch):
    from loop.service import models

    frozen, other = _recal(store, []), _recal(store, [])
    tok = annotator_token(client, ready, "a")
    real = models.fit_end_model

    def freeze(*a, **kw):
        out = real(*a, **kw)  # trained without gold; frozen past its lock's TTL
        store.r.delete(store._k(ready, "lock", "end_model"))
        answer_n(client, ready, tok, 10, 1)
        monkeypatch.setattr(models, "fit_end_model", real)
        models.recalibrate(store, ready, 30)
        assert other.run_end_model(ready, wait=True)["n_gold"] == 10
        return out

    monkeypatch.setattr(models, "fit_end_model", freeze)
    out = frozen.run_end_model(ready, wait=True)
    assert out["skipped"] and "lost its lock" in out["reason"]
    assert store.model_summary(ready, "end_model")["n_gold"] == 10


def test_an_end_model_retrain_whose_lock_ran_out_with_no_taker_asks_for_a_fresh_one(
        store, client, ready, monkeypatch):
    """Fault trial: an admin retrain frozen past its lock's TTL ended "finished" saying a
    newer run took over when none had, and its answers reached no end model."""
    from loop.service import models

    jobs: list = []
    frozen = _recal(store, jobs)
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 1)
    models.recalibrate(store, ready, 30)
    real = models.fit_end_model

    def freeze(*a, **kw):
        out = real(*a, **kw)  # frozen past its lock's TTL; nobody takes over
        store.r.delete(store._k(ready, "lock", "end_model"))
        return out

    monkeypatch.setattr(models, "fit_end_model", freeze)
    out = frozen.run_end_model(ready, wait=True)
    assert out["skipped"] and "lost its lock" in out["reason"]
    assert "took over" not in out["reason"] and "fresh retrain" in out["reason"]
    assert store.model_summary(ready, "end_model") is None  # it wrote nothing ...
    assert [j[0] for j in jobs] == ["retrain_end_model"]  # ... and asked for a new run
    monkeypatch.setattr(models, "fit_end_model", real)
    assert frozen.run_end_model(ready)["n_gold"] == 10


def test_a_run_that_never_ends_leaves_a_check_for_when_its_lock_runs_out(store, client,
                                                                        ready):
    """Fault trial: the work horse of an automatic recalibration killed (or the job
    canceled) while its worker lived on. RQ's re-run and the next request found the
    dead run's lock still held, were skipped ("it re-checks when it ends"), and the
    answers stayed out of the models until another answer came."""
    from loop.service.recalibration import LOCK_TIMEOUT

    jobs: list = []
    r = _recal(store, jobs)
    client.application.extensions["loop"]["recalibrator"] = r  # the answers' too
    lock = store.lock(ready, "recal", LOCK_TIMEOUT)
    assert lock.acquire(blocking=False)  # the dead run's: it will never release it
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)  # due: the holder looks alive, so a check later
    assert [(j[0], round(j[2])) for j in jobs] == [("recalibrate", LOCK_TIMEOUT + 2)]
    # they wait from now (a frozen run's answers were reported 22 s late)
    assert time.time() - 5 < store.recal_requested_at(ready) <= time.time()
    store.clear_flag(ready, "recal_when_due")  # (as if that check had run, too early)
    out = r.run(ready, auto=True)  # RQ's re-run of the killed job
    assert out["skipped"] and "another recalibration is running" in out["reason"]
    assert [(j[0], round(j[2])) for j in jobs[1:]] == [("recalibrate", LOCK_TIMEOUT + 2)]
    assert r.request(ready) is None and len(jobs) == 2  # one check, not one per request
    assert store.recal_requested_at(ready) <= time.time() + LOCK_TIMEOUT + 2
    store.r.delete(store._k(ready, "lock", "recal"))  # ... its lock runs out
    assert r.run(ready, auto=True)["n_gold"] == 10  # the check takes the answers in


def _held_by_a_dead_run(store, pid, name, job_id, listed=True):
    """Lock ``name`` taken by a run of ``job_id`` that never releases it (its work
    horse killed); ``listed``: with its worker's name (killed before it got there,
    the fault trial's 3 of 8)."""
    import json

    from loop.storage.coordination import LOCK_OWNERS_KEY, job_token

    lock = store.lock(pid, name, LOCK_TIMEOUT)
    assert lock.acquire(blocking=False, token=job_token(job_id))
    if listed:
        store.r.hset(LOCK_OWNERS_KEY, lock.name, json.dumps(
            {"owner": "w1", "token": lock.local.token.decode()}))
    return lock


def test_a_re_run_takes_over_the_lock_its_own_killed_run_left(store, client, ready):
    """Fault trial: RQ's re-run of a recalibration whose work horse was killed found
    the lock of its own first run, was skipped ("another recalibration is running")
    and its record read "(skipped) (run 2 times)"; the answers waited 22 s for a
    check. The first run has ended, so the re-run takes its lock at once."""
    from loop.storage.coordination import LOCK_OWNERS_KEY

    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)
    _held_by_a_dead_run(store, ready, "recal", "job-A", listed=False)
    rerun = Recalibrator(store, lambda *a, **kw: "x", RecalibrationPolicy(every=10), 30,
                         job_id="job-A")
    assert "skipped" not in rerun.run(ready, auto=True, end_model=False)
    answer_n(client, ready, tok, 10, 0)
    stale = _held_by_a_dead_run(store, ready, "recal", "job-A")
    other = Recalibrator(store, lambda *a, **kw: "x", RecalibrationPolicy(every=10), 30,
                         job_id="job-B")
    assert other.run(ready, auto=True)["skipped"]  # another job's run: it may be alive
    assert store.is_locked(ready, "recal")
    rerun = Recalibrator(store, lambda *a, **kw: "x", RecalibrationPolicy(every=10), 30,
                         owner="w2", job_id="job-A")
    out = rerun.run(ready, auto=True, end_model=False)
    assert "skipped" not in out and out["n_gold"] == 20
    assert store.since_recal(ready) == 0
    assert not store.r.hexists(LOCK_OWNERS_KEY, stale.name)  # unlisted when it ended
    # the killed run, had it only been frozen, finds its lock gone and writes nothing
    assert not stale.owned()
    # an admin's re-run (which waits for a running one) takes it at once too
    import threading

    _held_by_a_dead_run(store, ready, "end_model", "job-C")
    store.r.expire(store._k(ready, "lock", "end_model"), 3600)  # it would wait an hour
    rerun = Recalibrator(store, lambda *a, **kw: "x", RecalibrationPolicy(every=10), 30,
                         job_id="job-C")
    got: list = []
    t = threading.Thread(target=lambda: got.append(rerun.run_end_model(ready, wait=True)),
                         daemon=True)
    t.start()
    t.join(120)
    assert got and got[0]["n_gold"] == 20


def test_a_canceled_run_frees_its_lock_and_is_checked_a_moment_later(store, ready):
    """Cancel of a running recalibration or retrain stops its work horse, which never
    releases its lock: the check that takes in its answers waited 22 s for it."""
    from loop.service.recalibration import CANCELED_CHECK_DELAY

    for kind, name in (("recalibrate", "recal"), ("train_end_model", "end_model")):
        jobs: list = []
        r = _recal(store, jobs)
        _held_by_a_dead_run(store, ready, name, f"job-{kind}")
        # a run the time rule scheduled is 40 s away: the check does not wait for it
        store.set_flag(ready, "recal_when_due", 40)
        r.canceled(ready, kind, f"job-{kind}")
        assert not store.is_locked(ready, name)
        assert [round(j[2], 1) for j in jobs] == [CANCELED_CHECK_DELAY], kind
    # a lock held by another job (or an older worker's, not listed) is left to run out
    jobs = []
    r = _recal(store, jobs)
    store.clear_flag(ready, "recal_when_due")
    _held_by_a_dead_run(store, ready, "recal", "job-other")
    r.canceled(ready, "recalibrate", "job-canceled")
    assert store.is_locked(ready, "recal")
    assert [round(j[2]) for j in jobs] == [LOCK_TIMEOUT + 2]


def test_a_frozen_run_that_resumes_leaves_the_new_holders_listing(store, ready):
    """A run frozen past its lock's TTL resumes and exits after another run took the
    lock: it unlisted the new holder, whose killed worker's lock then could not be
    freed by the liveness sweep."""
    import json

    from loop.storage import KeepAlive
    from loop.storage.coordination import LOCK_OWNERS_KEY

    frozen = store.lock(ready, "recal", 0.3)
    assert frozen.acquire(blocking=False)
    k = KeepAlive(frozen, "w1")
    k.__enter__()
    k._stop.set()  # frozen: it stops extending
    time.sleep(0.5)  # ... past its TTL
    new = store.lock(ready, "recal", LOCK_TIMEOUT)
    assert new.acquire(blocking=False)
    with KeepAlive(new, "w2"):
        k.__exit__(None, None, None)  # the frozen run resumes and ends
        assert json.loads(store.r.hget(LOCK_OWNERS_KEY, new.name))["owner"] == "w2"
    assert not store.r.hexists(LOCK_OWNERS_KEY, new.name)


def test_an_end_model_retrain_that_never_ends_is_made_up_for(store, client, ready):
    """Fault trial: the work horse of an automatic end-model retrain killed; RQ's
    re-run found its lock held, left the retrain to it ("it runs once more when it
    ends"), and the end model missed the answers until the time rule's next run."""
    from loop.service import models

    jobs: list = []
    r = _recal(store, jobs)
    answer_n(client, ready, annotator_token(client, ready, "a"), 10, 1)
    models.recalibrate(store, ready, 30)
    lock = store.lock(ready, "end_model", LOCK_TIMEOUT)
    assert lock.acquire(blocking=False)  # the dead retrain's
    assert r.run_end_model(ready)["skipped"]
    assert [(j[0], j[1][-1], round(j[2])) for j in jobs] == [
        ("retrain_end_model", True, LOCK_TIMEOUT + 2)]  # a check, only if still owed
    store.r.delete(store._k(ready, "lock", "end_model"))  # its lock runs out
    assert r.run_end_model(ready, again_only=True)["n_gold"] == 10
    assert store.model_summary(ready, "end_model")["n_gold"] == 10
    assert not store.has_flag(ready, "end_model_again")  # nothing owed: no rerun
    # had the running one ended, it would have run again itself: the check is a no-op
    assert r.run_end_model(ready, again_only=True)["skipped"]


def test_a_canceled_recalibration_or_retrain_is_checked_again(store, client, ready, rconn):
    """Fault trial: one answer, its automatic recalibration canceled while it ran: RQ
    does not re-run a canceled job, nothing else asked, and the answer stayed out of
    the models (240 s+) under a banner saying the workers were busy."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    q = Queue("loop", connection=rconn)
    q.empty()
    store.set_value(ready, "last_recalibrated_at", time.time() - 120)  # due at once
    answer_n(client, ready, annotator_token(client, ready, "a"), 1, 1)
    (auto,) = q.job_ids  # the automatic recalibration that answer asked for
    scheduled = ScheduledJobRegistry(queue=q)
    for kind in ("recalibrate", "train_end_model"):
        before = set(scheduled.get_job_ids())
        jid = auto if kind == "recalibrate" else client.post(
            f"/api/projects/{ready}/jobs", headers=auth(), json={"type": kind}).json["job_id"]
        assert client.post(f"/api/jobs/{jid}/cancel", headers=auth()).status_code == 200
        if kind == "train_end_model":
            assert store.has_flag(ready, "end_model_again")
        (new,) = set(scheduled.get_job_ids()) - before
        assert q.fetch_job(new).func_name.endswith(
            "recalibrate" if kind == "recalibrate" else "retrain_end_model")
    run_burst(rconn)  # (the scheduled ones are not due yet: nothing else runs)
    assert store.since_recal(ready) == 1


def test_a_repeated_answer_asks_for_the_recalibration_the_first_send_did_not(
        store, client, ready):
    """Fault trial: an answer stored while Redis was paused got a 503, so the web
    process never asked for a recalibration; the retry was a duplicate and asked for
    nothing either, and the answer stayed out of the models."""
    tok = annotator_token(client, ready, "a")
    got = client.post(f"/api/projects/{ready}/queue/next", headers=auth(tok)).json
    body = {"item_id": got["item"]["id"], "label": 0, "lease_id": got["lease"]["id"]}
    app_recal = client.application.extensions["loop"]["recalibrator"]
    calls: list = []
    real = app_recal.answer_arrived
    app_recal.answer_arrived = lambda pid, since: calls.append(since)
    try:
        from loop.service import queue

        queue.answer(store, ready, "a", body["item_id"], 0, body["lease_id"])  # cut off
        r = client.post(f"/api/projects/{ready}/queue/answer", headers=auth(tok), json=body)
    finally:
        app_recal.answer_arrived = real
    assert r.status_code == 200 and r.json["duplicate"] is True
    assert calls == [1]


def test_a_dead_holders_lock_is_taken_over(store, client, ready):
    """A holder that stops extending its lock (kill -9) is dead after a third of
    the TTL plus slack; a new run waits the rest of the TTL and takes over."""
    jobs: list = []
    r = _recal(store, jobs)
    lock = store.lock(ready, "recal", LOCK_TIMEOUT)
    assert lock.acquire(blocking=False)
    assert store.lock_holder_alive(ready, "recal", LOCK_TIMEOUT)
    assert r.request(ready) is None  # a live holder re-checks when it ends
    m = client.get(f"/api/projects/{ready}/metrics", headers=auth()).json
    assert m["recalibration"]["running"] is True
    store.r.pexpire(store._k(ready, "lock", "recal"), 1500)  # as if it stopped extending
    assert not store.lock_holder_alive(ready, "recal", LOCK_TIMEOUT)
    # a dead holder's lock is no run (the dashboard said "running now" for 20 s)
    m = client.get(f"/api/projects/{ready}/metrics", headers=auth()).json
    assert m["recalibration"]["running"] is False
    assert r.answer_arrived(ready, 10) is not None
    t0 = time.time()
    out = r.run(ready)
    assert "skipped" not in out and 1.0 < time.time() - t0 < 5


def test_keepalive_extends_the_lock_while_the_run_lasts(store, ready):
    from loop.storage import KeepAlive

    lock = store.lock(ready, "x", 0.9)
    assert lock.acquire(blocking=False)
    with KeepAlive(lock) as k:
        time.sleep(1.5)
        assert store.is_locked(ready, "x") and not k.lost
    assert not store.is_locked(ready, "x")


def test_end_model_runs_again_when_the_label_model_moved_during_it(store, client, ready,
                                                                   rconn):
    answer_n(client, ready, annotator_token(client, ready, "a"), 10, 0)
    run_burst(rconn)  # the automatic recalibration and its end-model retrain
    m = client.get(f"/api/projects/{ready}/metrics",
                   headers={"Authorization": "Bearer test-admin-key"}).json
    assert m["recalibration"]["last_ok_at"] and m["end_model_training"]["last_ok_at"]
    assert m["history"][-1]["end_model"] is not None
    jobs: list = []
    r = _recal(store, jobs)

    from loop.service import models

    real = models.retrain_end_model

    def meanwhile_the_label_model_is_refit(*a, **kw):
        out = real(*a, **kw)
        models.recalibrate(store, ready, 30)
        return out

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "retrain_end_model", meanwhile_the_label_model_is_refit)
        r.run_end_model(ready)
    assert [f for f, _ in jobs] == ["retrain_end_model"]


def test_a_recalibration_waiting_for_a_worker_is_reported(store, client, rconn, ready,
                                                          monkeypatch):
    from svc_helpers import auth

    from loop.service import reports

    def health():
        return client.get(f"/api/projects/{ready}/metrics", headers=auth()).json["loop"]

    assert health() == {"workers": 0, "waiting_since": None, "overdue": False}
    t0 = time.time()
    answer_n(client, ready, annotator_token(client, ready, "a"), 10, 0)  # due: enqueued
    got = health()
    assert t0 <= got["waiting_since"] <= time.time() and not got["overdue"]
    monkeypatch.setattr(reports, "OVERDUE_AFTER", 0.0)  # as if a minute went by
    assert health() == {"workers": 0, "waiting_since": got["waiting_since"], "overdue": True}
    run_burst(rconn)  # a worker comes and takes the job
    assert health() == {"workers": 0, "waiting_since": None, "overdue": False}
    m = client.get(f"/api/projects/{ready}/metrics", headers=auth()).json
    assert m["since_recalibration"] == 0
    # operator's trial: a rule saved (an apply run that recalibrates after it) behind
    # another project's backlog waited 3 minutes while this said nothing waited
    r = client.post(f"/api/projects/{ready}/jobs", headers=auth(),
                    json={"type": "apply_lfs", "recalibrate": True})
    assert r.status_code == 202
    assert health()["waiting_since"] is not None and health()["overdue"]
    run_burst(rconn)
    assert health() == {"workers": 0, "waiting_since": None, "overdue": False}
    # operator's trial: such a run canceled before a worker took it left the warning
    # up, with workers idle and nothing owed, until the next answer
    r = client.post(f"/api/projects/{ready}/jobs", headers=auth(),
                    json={"type": "apply_lfs", "recalibrate": True})
    assert health()["overdue"]
    assert client.post(f"/api/jobs/{r.json['job_id']}/cancel", headers=auth()).json[
        "canceled"]
    assert health() == {"workers": 0, "waiting_since": None, "overdue": False}


def test_answers_short_of_the_count_are_taken_in_when_the_time_rule_says(
        app, client, store, rconn, ready):
    """New-user trial: with the rule "every 10 answers or every S seconds", 4 answers
    and then none stayed out of the models (the clock was only looked at when an
    answer came). An answer not yet due now schedules one run for when it will be."""
    from rq import Queue

    from loop.service.jobs import enqueue_task

    queue = Queue("loop", connection=rconn)

    def enqueue(func, pid, *args, meta, delay=None):
        return str(enqueue_task(queue, store, func, pid, *args, meta=meta, delay=delay).id)

    app.extensions["loop"]["recalibrator"] = Recalibrator(
        store, enqueue, RecalibrationPolicy(every=10, seconds=3, min_gap=0), 30)
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)  # due by count
    run_burst(rconn)
    assert store.since_recal(ready) == 0
    answer_n(client, ready, tok, 4, 1)  # not due: 4 answers, under 3 s since the run
    assert store.since_recal(ready) == 4
    # one scheduled run for these 4 (and, when the 10 took over 3 s, one for those)
    assert 1 <= len(queue.scheduled_job_registry.get_job_ids()) <= 2
    time.sleep(3.2)
    from svc_helpers import burst_worker

    burst_worker([queue], rconn).work(burst=True, with_scheduler=True)
    assert store.since_recal(ready) == 0
    assert store.model_summary(ready, "label_model")["n_gold"] == 14
    assert not store.has_flag(ready, "recal_when_due")  # the next answer schedules anew
    assert not queue.scheduled_job_registry.get_job_ids()


def test_the_time_rules_run_waiting_for_a_worker_is_reported_once_due(
        app, client, store, ready, monkeypatch):
    """The run the time rule schedules counts as waiting from when it is due (not
    from the answer that scheduled it); with no worker to run it, the loop says so."""
    from svc_helpers import auth

    from loop.service import reports

    jobs: list = []

    def enqueue(func, pid, *args, meta, delay=None):
        jobs.append(delay)
        return f"job-{len(jobs)}"

    app.extensions["loop"]["recalibrator"] = Recalibrator(
        store, enqueue, RecalibrationPolicy(every=10, seconds=1, min_gap=0), 30)
    store.set_value(ready, "last_recalibrated_at", time.time())

    def health():
        return client.get(f"/api/projects/{ready}/metrics", headers=auth()).json["loop"]

    answer_n(client, ready, annotator_token(client, ready, "a"), 3, 0)
    assert len(jobs) == 1 and 0 < jobs[0] <= 1  # one run, scheduled
    monkeypatch.setattr(reports, "OVERDUE_AFTER", 0.0)
    assert health()["waiting_since"] is None  # not due yet: nothing waits
    time.sleep(1.2)
    got = health()
    assert got["waiting_since"] <= time.time() and got["overdue"] and got["workers"] == 0


def test_an_answer_during_a_run_is_taken_in_by_the_time_rule(store, client, ready,
                                                             monkeypatch):
    """Fault trial: one answer that came while a run was fitting found it running
    (so asked for nothing) and, short of the count, stayed out of the label model
    with nothing scheduled and no banner. The run schedules one when it ends."""
    from loop.service import models

    jobs: list = []

    def enqueue(func, pid, *args, meta, delay=None):
        jobs.append((func, delay))
        return f"job-{len(jobs)}"

    r = Recalibrator(store, enqueue, RecalibrationPolicy(every=10, seconds=60, min_gap=0), 30)
    tok = annotator_token(client, ready, "a")
    real = models.recalibrate

    def one_answer_meanwhile(*a, **kw):
        # over 60 s since the last run: the answer is due, finds this run holding
        # the lock and leaves it to this run's check at its end
        answer_n(client, ready, tok, 1, 1)
        return real(*a, **kw)

    monkeypatch.setattr(models, "recalibrate", one_answer_meanwhile)
    store.set_value(ready, "last_recalibrated_at", time.time() - 120)
    r.run(ready)
    assert store.since_recal(ready) == 1
    # scheduled: by the answer itself, for when the run's lock would have run out had
    # the run died (then this run's end check leaves it be), else for when the time
    # rule makes it due
    assert store.has_flag(ready, "recal_when_due")
    assert time.time() + 15 < store.recal_requested_at(ready) <= time.time() + 61


def test_one_automatic_recalibration_waits_in_the_queue_however_long(store, client, rconn,
                                                                     ready):
    """Operator's trial: behind another project's backlog the coalescing flags ran
    out (a minute) and 32 automatic runs of one project queued up, ahead of the
    other project's jobs. One that waits for a worker takes in every answer until it
    starts: it is the only one."""
    from rq import Queue
    from rq.job import Job

    tok = annotator_token(client, ready, "a")
    q = Queue("loop", connection=rconn)

    def waiting():
        return [j for j in (Job.fetch(i, connection=rconn) for i in q.job_ids)
                if j.meta.get("type") == "recalibrate"]

    for rnd in range(3):
        answer_n(client, ready, tok, 10, 0)
        assert len(waiting()) == 1, rnd
        for flag in ("recal_pending", "recal_recent", "recal_scheduled", "recal_when_due"):
            store.clear_flag(ready, flag)  # as if a minute or more went by
    run_burst(rconn)
    assert store.since_recal(ready) == 0 and not waiting()
    answer_n(client, ready, tok, 10, 0)  # the next one is queued as before
    assert len(waiting()) == 1


def test_a_recalibration_waiting_for_a_failed_apply_run_says_so(store, client, ready):
    """Operator's trial: with the LF module gone every apply run failed, and each
    recalibration skipped quietly (items without LF votes) while answers stayed out
    of the models; /metrics showed no error. The skip now names the failure."""
    r = Recalibrator(store, lambda *a, **k: "job-x", RecalibrationPolicy(every=10), 30,
                     apply=lambda pid: "apply-1")
    assert client.post(f"/api/projects/{ready}/items", data=b"CONTENT\nnew one\nnew two\n",
                       headers={**auth(), "Content-Type": "text/csv"}).status_code == 201
    out = r.run(ready)
    assert out["skipped"] and "apply run apply-1" in out["reason"]
    assert "failed" not in out["reason"]
    m = client.get(f"/api/projects/{ready}/metrics", headers=auth()).json
    assert m["recalibration"]["last_error"] is None
    store.set_value(ready, "apply_status", {"ok_at": None, "error": {
        "at": time.time(), "message": "BadRequest: cannot import lf_module 'gone'"}})
    out = r.run(ready)
    assert "the last apply run failed (BadRequest: cannot import lf_module 'gone'); " \
        "apply run apply-1 tries again" in out["reason"], out["reason"]
    m = client.get(f"/api/projects/{ready}/metrics", headers=auth()).json
    assert "cannot import lf_module 'gone'" in m["recalibration"]["last_error"]["message"]


def test_an_automatic_recalibration_goes_ahead_of_heavy_work_waiting(store, client, rconn,
                                                                      ready):
    """Operator's trial: behind another project's backlog a small project's first rule
    took 3 min 22 s from save to fitted models. The runs that close the loop (about a
    second each) go to the head of the one queue; heavy work keeps its order."""
    from rq import Queue
    from rq.job import Job
    from svc_helpers import burst_worker

    q = Queue("loop", connection=rconn)
    heavy = [q.enqueue("time.sleep", 0, meta={"type": "train_end_model"}) for _ in range(3)]
    tok = annotator_token(client, ready, "a")
    answer_n(client, ready, tok, 10, 0)  # due: an automatic recalibration
    types = [Job.fetch(i, connection=rconn).meta.get("type") for i in q.job_ids]
    assert types[0] == "recalibrate" and types[1:4] == ["train_end_model"] * 3, types
    assert [i for i in q.job_ids if i in {j.id for j in heavy}] == [j.id for j in heavy]
    burst_worker([q], rconn).work(burst=True, max_jobs=1)
    assert store.since_recal(ready) == 0  # the one job run was the recalibration
    assert all(j.get_status(refresh=True) == "queued" for j in heavy)


def test_failures_in_a_row_are_counted_and_a_run_that_ends_well_clears_them(store, project):
    """Operator's soak: a retrain that failed alike every time was asked for again every
    10 minutes for good. Each failure in a row doubles the wait, up to 6 hours."""
    from loop.service.recalibration import record_failure, retry_at

    for n in (1, 2, 3):
        record_failure(store, project, "end_model_status", MemoryError("no room"))
        err = store.get_value(project, "end_model_status")["error"]
        assert err["n_failures"] == n and "MemoryError: no room" in err["message"]
        assert retry_at(err) == err["at"] + 600 * 2 ** (n - 1)
    assert retry_at({**err, "n_failures": 40}) == err["at"] + 6 * 3600
    store.set_value(project, "end_model_status", {"ok_at": 1.0, "error": None})  # ended well
    record_failure(store, project, "end_model_status", MemoryError("no room"))
    assert store.get_value(project, "end_model_status")["error"]["n_failures"] == 1
