"""Job time limits and cancel, with real worker processes: an LF that never returns
fails its run within the chunk time limit, naming the LF and the item, without
retries; a running job can be canceled; neither holds up another project."""

from __future__ import annotations

import time

import pytest
from svc_helpers import HELD_OUT_QUERY, auth, configure, held_out_csv, youtube_csv
from test_faults import Workers, _wait


@pytest.fixture
def workers(redis_url, tmp_path):
    w = Workers(redis_url, tmp_path)
    yield w
    w.stop()


def _project(client, lf_module, data=None, query=""):
    pid = client.post("/api/projects", headers=auth(), json={
        "name": lf_module, "labels": ["ham", "spam"], "lf_module": lf_module,
        "text_field": "CONTENT"}).json["id"]
    r = client.post(f"/api/projects/{pid}/items?{query}", data=data or youtube_csv(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    return pid


def _job(client, pid, kind):
    r = client.post(f"/api/projects/{pid}/jobs", headers=auth(), json={"type": kind})
    assert r.status_code == 202, r.json
    return r.json["job_id"]


def _status(client, jid):
    return client.get(f"/api/jobs/{jid}", headers=auth()).json


def _ended(client, jid):
    return _status(client, jid)["status"] in ("finished", "failed", "stopped", "canceled")


@pytest.mark.slow
def test_a_hanging_lf_fails_within_the_limit_naming_itself_and_is_not_retried(
        app, client, rconn, workers):
    from rq.job import Job

    configure(app, CHUNK_SIZE=100, LF_CHUNK_TIMEOUT=2)
    other = _project(client, "lfs_youtube", held_out_csv(), HELD_OUT_QUERY)
    hang = _project(client, "lfs_hang")
    workers.start("w1")
    workers.start("w2")
    applied = _job(client, other, "apply_lfs")
    assert _wait(lambda: _ended(client, applied), timeout=30)
    t0 = time.time()
    jid = _job(client, hang, "apply_lfs")
    assert _wait(lambda: _ended(client, jid), timeout=30)
    took = time.time() - t0
    st = _status(client, jid)
    assert st["status"] == "failed" and st["ended_at"], st  # when its unit failed
    assert "stuck_on_psy" in st["error"] and "still running on item" in st["error"]
    assert "LOOP_LF_CHUNK_TIMEOUT" in st["error"]
    failed = [Job.fetch(c, connection=rconn) for c in
              Job.fetch(jid, connection=rconn).get_meta(refresh=True)["chunk_jobs"]]
    failed = [j for j in failed if j.get_status(refresh=True) == "failed"]
    for j in failed:  # a unit fetched while still running, then failed: read it anew
        j.refresh()
    assert failed and all(j.retries_left == 0 for j in failed)
    assert took < 2 * 3 + 10  # the limit, once per chunk and worker, not again per retry
    # the other project's recalibration is not held up by it
    t1 = time.time()
    rid = _job(client, other, "recalibrate")
    assert _wait(lambda: _ended(client, rid), timeout=30)
    assert _status(client, rid)["status"] == "finished"
    print(f"hanging LF failed its run in {took:.1f} s; another project's recalibration "
          f"took {time.time() - t1:.1f} s")


@pytest.mark.slow
def test_an_lf_that_ends_its_process_fails_the_run_saying_where_and_why(
        app, client, workers):
    """New-user trial: an LF that called os._exit failed its run as "work-horse
    terminated", naming neither the rows nor a cause."""
    configure(app, CHUNK_SIZE=100)
    pid = _project(client, "lfs_exit")
    workers.start("w1")
    jid = _job(client, pid, "apply_lfs")
    assert _wait(lambda: _ended(client, jid), timeout=90)
    st = _status(client, jid)
    assert st["status"] == "failed" and st["ended_at"], st
    assert "The worker process died while applying the LFs to rows " in st["error"], st
    assert "os._exit" in st["error"] and "Work-horse terminated" in st["traceback"], st


def test_cancel_a_running_job(app, client, rconn, workers):
    slow = _project(client, "lfs_slow")
    other = _project(client, "lfs_youtube", held_out_csv(), HELD_OUT_QUERY)
    workers.start("w1")
    jid = _job(client, slow, "apply_lfs")
    assert _wait(lambda: _status(client, jid)["progress"]["done"] > 0, timeout=30)
    r = client.post(f"/api/jobs/{jid}/cancel", headers=auth())
    assert r.status_code == 200 and r.json["canceled"], r.json
    assert r.json["stopping"], r.json  # its running chunks: asked to stop (may still finish)
    assert _wait(lambda: _ended(client, jid), timeout=10)
    st = _status(client, jid)
    assert st["status"] in ("stopped", "canceled") and "canceled" in st["error"]
    # the worker survived and takes the next job
    aid = _job(client, other, "apply_lfs")
    assert _wait(lambda: _ended(client, aid), timeout=30)
    assert _status(client, aid)["status"] == "finished"
    r = client.post(f"/api/jobs/{jid}/cancel", headers=auth())
    assert r.status_code in (200, 409)


def test_deleting_a_project_stops_its_running_job(app, client, rconn, workers):
    """Operator's trial: a project deleted during a long apply run kept a worker
    busy until the run ended (up to its time limit), its work thrown away."""
    from loop.service import jobs as service_jobs

    slow = _project(client, "lfs_slow")
    other = _project(client, "lfs_youtube", held_out_csv(), HELD_OUT_QUERY)
    workers.start("w1")
    jid = _job(client, slow, "apply_lfs")
    assert _wait(lambda: _status(client, jid)["progress"]["done"] > 0, timeout=30)
    r = client.delete(f"/api/projects/{slow}", headers=auth(), json={"confirm": "lfs_slow"})
    assert r.status_code == 200, r.json

    def ended():
        return service_jobs.job_status(rconn, jid)["status"] in ("stopped", "canceled")

    assert _wait(ended, timeout=10)
    assert service_jobs.job_status(rconn, jid)["error"] == "its project was deleted"
    # the worker is free for the next project's job
    aid = _job(client, other, "apply_lfs")
    assert _wait(lambda: _ended(client, aid), timeout=30)
    assert _status(client, aid)["status"] == "finished"
