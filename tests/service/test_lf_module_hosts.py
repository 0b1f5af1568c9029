"""Workers on several machines: one without the project's LF module leaves its
apply runs to one that has it, and a run every worker misses fails saying why
(operator's trial: a second machine's worker failed apply runs at once, and the
project's recalibrations waited 10 minutes for the next try). A worker whose copy
of the module is another version does not mix its votes into the run's ``L``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from rq.job import Job
from svc_helpers import (
    HERE,
    apply_lfs_in_process,
    auth,
    rq_worker_cmd,
    wait_until,
    worker_env,
    youtube_csv,
)

from loop.core.apply import apply_lfs
from loop.core.lf import Record
from loop.errors import LFModuleNotOnWorker, LFRunSuperseded
from loop.service import labeling
from loop.service.rules import project_lfs
from loop.service.worker import WORKERS_KEY, alive_key

MODULE = "lfs_one_machine"


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """The YouTube LFs as a module that only this test process (and the web's
    check) and the workers told so can import."""
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / f"{MODULE}.py").write_text((HERE / "lfs_youtube.py").read_text())
    monkeypatch.syspath_prepend(str(mods))
    monkeypatch.setenv("PYTHONPATH", f"{mods}{os.pathsep}{os.environ['PYTHONPATH']}")
    yield mods
    sys.modules.pop(MODULE, None)


@pytest.fixture
def start(redis_url, tmp_path):
    procs, logs = [], []

    def run(name, extra_path=None):
        env = worker_env(redis_url)
        if extra_path is not None:
            env["PYTHONPATH"] = f"{extra_path}{os.pathsep}{env['PYTHONPATH']}"
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115
        logs.append(log)
        procs.append(subprocess.Popen(rq_worker_cmd(redis_url, "--name", name), env=env,
                                      stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True, cwd=tmp_path))

    yield run
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for log in logs:
        log.close()


def _project(client):
    pid = client.post("/api/projects", headers=auth(), json={
        "name": "two machines", "labels": ["ham", "spam"], "lf_module": MODULE,
        "text_field": "CONTENT"}).json["id"]
    r = client.post(f"/api/projects/{pid}/items", data=youtube_csv(),
                    headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    return pid


def _full(store, pid):
    """L from the module's LFs on every item, in this process."""
    lfs = project_lfs(store, pid)
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"], "CONTENT": i["text"]})
            for i in store.items(pid)]
    return apply_lfs(lfs, recs, n_classes=2).L


def _apply(client, pid):
    r = client.post(f"/api/projects/{pid}/jobs", headers=auth(), json={"type": "apply_lfs"})
    assert r.status_code == 202, r.json
    return r.json["job_id"]


def _ended(client, jid):
    assert wait_until(lambda: client.get(f"/api/jobs/{jid}", headers=auth()).json["status"]
                      in ("finished", "failed"), timeout=90)
    return client.get(f"/api/jobs/{jid}", headers=auth()).json


@pytest.mark.slow
def test_a_worker_without_the_module_leaves_the_run_to_one_that_has_it(
        client, rconn, store, module_dir, start, tmp_path):
    pid = _project(client)
    # a second live worker, busy elsewhere for now: the first miss is not the last
    rconn.sadd(WORKERS_KEY, "busy-elsewhere")
    rconn.set(alive_key("busy-elsewhere"), 1, ex=120)
    start("without")  # its machine has no lfs_one_machine
    assert wait_until(lambda: rconn.exists(alive_key("without")), timeout=60)
    jid = _apply(client, pid)
    assert wait_until(lambda: Job.fetch(jid, connection=rconn).meta.get("lf_module_misses"),
                      timeout=60)
    assert client.get(f"/api/jobs/{jid}", headers=auth()).json["status"] != "failed"
    start("with", extra_path=module_dir)
    st = _ended(client, jid)
    assert st["status"] == "finished" and st["result"]["n_items"] == 350, st
    # the job's record says where
    assert set(st["lf_module_misses"]) == {f"without on {socket.gethostname()}"}, st
    # ... and it was run once: the starts the other worker gave up are no runs (the
    # dashboard said "run 2 times")
    assert len(Job.fetch(jid, connection=rconn).meta["starts"]) > 1
    assert st["attempts"] == 1, st
    assert (store.get_value(pid, "apply_status") or {}).get("error") is None
    # the published L is the module's votes on every row
    assert np.array_equal(store.load_L(pid)[0], _full(store, pid))
    log = (tmp_path / "without.log").read_text()
    assert "leaving it to another worker" in log and f"cannot import lf_module '{MODULE}'" in log
    # ... and it said so when it started, with the project's name
    assert f"this worker cannot find lf_module '{MODULE}' (projects: two machines)" in log
    # each noted the version its machine has, for the planners to compare
    import json

    from loop.service.lf_modules import module_version, versions_key

    noted = {k.decode(): json.loads(v) for k, v in rconn.hgetall(versions_key(MODULE)).items()}
    assert noted["without"]["version"] is None
    assert noted["with"]["version"] == module_version(MODULE) is not None


@pytest.mark.slow
def test_a_run_no_live_worker_can_import_fails_once_saying_what_to_do(
        client, rconn, store, module_dir, start):
    pid = _project(client)
    start("without")
    assert wait_until(lambda: rconn.exists(alive_key("without")), timeout=60)
    jid = _apply(client, pid)
    st = _ended(client, jid)
    assert st["status"] == "failed"
    job = Job.fetch(jid, connection=rconn)
    assert job.meta["lf_module_misses"] == [f"without on {socket.gethostname()}"]
    err = store.get_value(pid, "apply_status")["error"]["message"]
    assert err.startswith(f"LFModuleNotOnWorker: cannot import lf_module '{MODULE}' on ")
    assert "of the service and of every worker: put the module there on each machine" in err


def test_a_unit_on_a_machine_with_another_version_of_the_module_raises(
        client, store, module_dir):
    """Operator's trial: a regex edited on one machine only; that machine's units
    were merged into L with the others' and nothing said so."""
    pid = _project(client)
    plan = labeling.plan(store, pid, 300)
    src = (module_dir / f"{MODULE}.py").read_text()
    assert src.count('"http"') == 1
    (module_dir / f"{MODULE}.py").write_text(src.replace('"http"', '"https"'))
    sys.modules.pop(MODULE, None)  # as in a fresh work horse
    # another machine's copy: written before the run was planned here
    old = plan["planned_at"] - 3600
    os.utime(module_dir / f"{MODULE}.py", (old, old))
    with pytest.raises(LFModuleNotOnWorker, match=r"is not the version the apply run was "
                                                   r"planned with on .*: link differ"):
        labeling.apply_unit(store, pid, plan["version"], 0)
    # written after the run was planned: edited during the run, which gives way
    os.utime(module_dir / f"{MODULE}.py", None)
    sys.modules.pop(MODULE, None)
    with pytest.raises(LFRunSuperseded):
        labeling.apply_unit(store, pid, plan["version"], 0)


def test_editing_what_a_modules_lfs_share_recomputes_them(client, store, module_dir):
    """A module-level constant or helper decides votes too (operator's trial: an
    edited regex constant recomputed nothing, ``lfs_recomputed: []``)."""
    path = module_dir / f"{MODULE}.py"
    path.write_text(path.read_text() + "\nSHARED = 1\n")
    sys.modules.pop(MODULE, None)
    pid = _project(client)
    first = apply_lfs_in_process(store, pid, chunk_size=300)
    assert first["n_items"] == 350
    # a comment changes no vote: nothing is recomputed (operator's re-trial: it
    # recomputed every column)
    path.write_text(path.read_text().replace("SHARED = 1", "SHARED = 1  # one\n# more\n"))
    sys.modules.pop(MODULE, None)
    assert labeling.plan(store, pid, 300)["changed"] == []
    path.write_text(path.read_text().replace("SHARED = 1", "SHARED = 2"))
    sys.modules.pop(MODULE, None)
    plan = labeling.plan(store, pid, 300)
    assert plan["changed"] == store.L_meta(pid)["lf_names"]
    assert len(plan["changed"]) == 6


def test_a_run_fails_when_another_machines_workers_have_another_version(
        client, rconn, store, module_dir):
    """Operator's re-trial: with two versions on two machines, each run published the
    version of the machine that planned it, and L flipped between them. Now the
    planner compares the versions the live workers noted and fails the run."""
    import json

    from loop.errors import LFModulesDiffer
    from loop.service.lf_modules import module_version, note_versions, versions_key

    pid = _project(client)
    mine = module_version(MODULE)
    assert mine is not None
    later = time.time() + 5  # noted after this machine's copy was written

    def note(worker, host, version, at=later, alive=True):
        rconn.hset(versions_key(MODULE), worker, json.dumps(
            {"host": host, "path": f"/srv/{worker}/{MODULE}.py", "version": version,
             "at": at}))
        rconn.sadd(WORKERS_KEY, worker)
        if alive:
            rconn.set(alive_key(worker), 1, ex=60)

    note_versions(rconn, "here-1", [MODULE])  # the same file: the same version
    note("same-version", "m2", mine)
    note("no-module", "m3", None)  # it leaves the runs to others
    note("dead", "m4", "0123456789abcdef", alive=False)
    note("before-the-edit", "m5", "fedcba9876543210", at=0.0)  # may be stale
    assert labeling.plan(store, pid, 300)["units"]
    note("skewed", "m6", "ffffffffffffffff")
    with pytest.raises(LFModulesDiffer, match=(
            r"different versions of lf_module 'lfs_one_machine': .* \(version "
            f"{mine}, which planned this run\\) and m6 /srv/skewed/lfs_one_machine.py "
            r"\(version ffffffffffffffff\): worker skewed\. Copy one version to every")):
        labeling.plan(store, pid, 300)
    # ... and so does a worker of this machine that imports another copy (another
    # working directory: the operator's re-trial ran both "machines" on one host)
    rconn.hdel(versions_key(MODULE), "skewed")
    note("other-dir", socket.gethostname(), "eeeeeeeeeeeeeeee")
    with pytest.raises(LFModulesDiffer, match=r"/srv/other-dir/lfs_one_machine.py \(version "
                                              r"eeeeeeeeeeeeeeee\): worker other-dir"):
        labeling.plan(store, pid, 300)
