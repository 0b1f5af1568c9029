"""Enqueue side of the background jobs (the job functions are in ``workers.jobs``).

The web layer and the answer path call these with ids and primitives only; jobs
are referenced by dotted path so this module never imports the workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rq import Retry

from loop import services
from loop.errors import BadRequest, JobNotFound

if TYPE_CHECKING:
    from rq import Queue
    from rq.job import Job

    from loop.storage.redis import RedisStore

JOB_TYPES = ("apply_lfs", "fit_label_model", "refill_queue", "train_end_model",
             "recalibrate", "export")
RETRY = Retry(max=3)  # immediate re-enqueue: no scheduler needed


def _enqueue(queue: Queue, store: RedisStore, pid: str, func: str, *args: Any,
             meta: dict[str, Any], **kw: Any) -> Job:
    job = queue.enqueue(f"workers.jobs.{func}", pid, *args, meta=meta, retry=RETRY,
                        job_timeout=kw.pop("job_timeout", 1800), result_ttl=86400,
                        failure_ttl=86400, **kw)
    return job


def enqueue(queue: Queue, store: RedisStore, pid: str, job_type: str,
            config: dict[str, Any] | None = None) -> Job:
    """Enqueue one job of ``job_type`` for project ``pid``; returns the job to report on."""
    config = config or {}
    store.get_project(pid)
    if job_type not in JOB_TYPES:
        raise BadRequest(f"unknown job type {job_type!r}; choose one of {list(JOB_TYPES)}")
    if job_type == "apply_lfs":
        cs = int(config.get("CHUNK_SIZE", 1000))
        plan = services.plan_apply(store, pid, cs)
        total = store.n_items(pid)
        chunks = [_enqueue(queue, store, pid, "apply_lfs_chunk", c, a, b,
                           meta={"type": "apply_lfs_chunk", "project": pid,
                                 "progress": {"done": 0, "total": b - a}})
                  for c, a, b in plan]
        job = _enqueue(queue, store, pid, "merge_lfs", len(plan), cs, depends_on=chunks,
                       meta={"type": "apply_lfs", "project": pid,
                             "chunk_jobs": [j.id for j in chunks],
                             "progress": {"done": 0, "total": total}})
    elif job_type == "recalibrate":
        store.set_flag(pid, "recal_pending", 3600)
        job = _enqueue(queue, store, pid, "recalibrate", int(config.get("QUEUE_SIZE", 100)),
                       True, meta={"type": job_type, "project": pid})
    elif job_type == "refill_queue":
        job = _enqueue(queue, store, pid, "refill_queue", int(config.get("QUEUE_SIZE", 100)),
                       meta={"type": job_type, "project": pid})
    elif job_type == "export":
        job = _enqueue(queue, store, pid, "export", "jsonl", meta={"type": job_type,
                                                                   "project": pid})
    else:
        job = _enqueue(queue, store, pid, job_type, meta={"type": job_type, "project": pid})
    store.record_job(pid, job.id)
    return job


def _enqueue_recal(queue: Queue, store: RedisStore, pid: str, size: int,
                   meta: dict[str, Any]) -> Job:
    job = _enqueue(queue, store, pid, "recalibrate", size, meta=meta)
    store.record_job(pid, job.id)
    return job


def maybe_recalibrate(queue: Queue, store: RedisStore, pid: str, since: int,
                      every: int, seconds: float,
                      config: dict[str, Any] | None = None) -> str | None:
    """After an answer: enqueue a recalibration every ``every`` answers or ``seconds``
    seconds (with at least one new answer), at most one pending per project.

    No Redis read unless a trigger can fire (the time trigger reads the last
    recalibration time only when ``seconds`` > 0). Triggers closer together than
    ``RECALIBRATE_MIN_SECONDS`` (config) are dropped: at machine answer rates the
    next answer after the gap triggers it; at human rates the gap never binds."""
    due = every > 0 and since >= every
    if not due and seconds > 0 and since > 0:
        last = store.get_value(pid, "last_recalibrated_at")
        due = last is None or time.time() - last >= seconds
    if not due:
        return None
    gap = float((config or {}).get("RECALIBRATE_MIN_SECONDS", 0) or 0)
    if gap > 0 and not store.set_flag(pid, "recal_recent", max(1, math.ceil(gap))):
        return None
    if not store.set_flag(pid, "recal_pending", 3600):
        return None
    job = _enqueue_recal(queue, store, pid, int((config or {}).get("QUEUE_SIZE", 100)),
                         meta={"type": "recalibrate", "project": pid, "auto": True})
    return str(job.id)


def low_water(config: dict[str, Any]) -> int:
    """Queue length below which ``/next`` asks for a refill (0: never)."""
    return int(float(config.get("QUEUE_LOW_WATER", 0.25)) * int(config.get("QUEUE_SIZE", 100)))


def maybe_refill(queue: Queue, store: RedisStore, pid: str, remaining: int,
                 config: dict[str, Any]) -> str | None:
    """After a lease left ``remaining`` items: below the low-water mark, enqueue one
    cheap refill (stored label / end model proba, no fitting), at most one pending
    or running per project. A refill that found nothing to queue holds the flag
    a few seconds so an exhausted pool does not enqueue a job per request."""
    if remaining >= low_water(config) or not store.set_flag(pid, "refill_pending", 600):
        return None
    job = _enqueue(queue, store, pid, "refill_auto", int(config.get("QUEUE_SIZE", 100)),
                   meta={"type": "refill_queue", "project": pid, "auto": True},
                   job_timeout=600)
    return str(job.id)


def run_exclusive(store: RedisStore, pid: str, name: str, body: Callable[[], dict[str, Any]],
                  again: Callable[[], Any], ttl: int = 1800,
                  wait: bool = False) -> dict[str, Any]:
    """Run ``body`` unless another ``name`` run of this project is running; then
    ask that run to call ``again`` (enqueue one more run) when it finishes, or
    with ``wait`` (a job an admin asked for) wait for it and run.

    The lock (``flag:<name>_running``, with a TTL in case a worker dies) makes
    "at most one running per project" hold across rq workers.
    """
    lock, rerun = f"{name}_running", f"{name}_rerun"
    end = time.time() + ttl
    while wait and not store.set_flag(pid, lock, ttl):
        if time.time() > end:
            raise TimeoutError(f"{name} of project {pid} still running after {ttl} s")
        time.sleep(0.1)
    if not wait and not store.set_flag(pid, lock, ttl):
        store.r.set(store._k(pid, "flag", rerun), "1", ex=ttl)
        if not store.set_flag(pid, lock, ttl):  # the holder may have just finished
            return {"skipped": True, "reason": f"another {name} is running; it runs again"}
        store.take_flag(pid, rerun)
    try:
        return body()
    finally:
        store.clear_flag(pid, lock)
        if store.take_flag(pid, rerun):
            again()


def job_status(connection: Any, job_id: str) -> dict[str, Any]:
    """The API view of a job: id, type, status, progress, result, error, traceback."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        raise JobNotFound(f"no job {job_id!r}") from None
    meta = job.get_meta(refresh=True)
    status = job.get_status(refresh=False)
    progress = meta.get("progress", {"done": 0, "total": 0})
    if meta.get("type") == "apply_lfs" and status != "finished":
        from loop.storage.redis import RedisStore

        progress = {"done": RedisStore(connection).apply_progress(meta["project"]),
                    "total": progress.get("total", 0)}
    error = tb = None
    if status == "failed":
        res = job.latest_result()
        tb = getattr(res, "exc_string", None)
        error = tb.strip().splitlines()[-1] if tb else "failed"
    return {"id": job.id, "type": meta.get("type"), "project": meta.get("project"),
            "status": str(status.value if hasattr(status, "value") else status),
            "progress": progress, "result": job.return_value() if status == "finished" else None,
            "error": error, "traceback": tb,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None}
