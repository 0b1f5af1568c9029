"""Thin RQ jobs: build the store from the worker's connection, call one service.

Each job is idempotent (it recomputes and overwrites its outputs), so RQ may
retry it (``Retry(max=3)``) or re-run it after its worker died.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from loop import services, tasks
from loop.storage.redis import RedisStore


def _store() -> tuple[RedisStore, Any]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("workers.jobs functions run inside an RQ worker")
    return RedisStore(job.connection), job


def _progress(job: Any) -> Any:
    def report(done: int, total: int) -> None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()

    return report


def apply_lfs_chunk(pid: str, chunk: int, start: int, stop: int) -> dict[str, Any]:
    """Apply the LFs to rows [start, stop)."""
    store, job = _store()
    return services.apply_lfs_chunk(store, pid, chunk, start, stop, progress=_progress(job))


def merge_lfs(pid: str, n_chunks: int, chunk_size: int) -> dict[str, Any]:
    """Publish L once every chunk is stored."""
    store, job = _store()
    out = services.merge_lfs(store, pid, n_chunks, chunk_size)
    _progress(job)(out["n_items"], out["n_items"])
    return out


def fit_label_model(pid: str) -> dict[str, Any]:
    """Fit the label model."""
    store, _ = _store()
    return services.fit_label_model(store, pid)


def train_end_model(pid: str) -> dict[str, Any]:
    """Train the end model."""
    store, _ = _store()
    return services.train_end_model(store, pid)


def refill_queue(pid: str, size: int = 100) -> dict[str, Any]:
    """Re-rank the expert queue."""
    store, _ = _store()
    return services.refill_queue(store, pid, size)


def _queue(job: Any) -> Any:
    from rq import Queue

    return Queue(job.origin, connection=job.connection)


def recalibrate(pid: str, size: int = 100, full: bool = False) -> dict[str, Any]:
    """Fast path: refit the label model, re-rank; then the end-model retrain (inline
    when ``full``, as a separate coalesced job otherwise).

    At most one runs per project (a second one asks it to run once more);
    clears the pending flag when it starts (coalescing)."""
    store, job = _store()
    queue = _queue(job)

    def body() -> dict[str, Any]:
        store.clear_flag(pid, "recal_pending")
        out = services.recalibrate(store, pid, size, progress=_progress(job), end_model=full)
        if not full and store.set_flag(pid, "end_model_pending", 3600):
            em = tasks._enqueue(queue, store, pid, "retrain_end_model", size,
                                meta={"type": "train_end_model", "project": pid, "auto": True})
            store.record_job(pid, em.id)
        return out

    return tasks.run_exclusive(store, pid, "recal", body, lambda: tasks._enqueue_recal(
        queue, store, pid, size, meta={"type": "recalibrate", "project": pid, "auto": True}),
        wait=full)


def retrain_end_model(pid: str, size: int = 100) -> dict[str, Any]:
    """Slow path: retrain the end model and re-rank (coalesced, one running per project)."""
    store, job = _store()
    queue = _queue(job)

    def body() -> dict[str, Any]:
        store.clear_flag(pid, "end_model_pending")
        return services.retrain_end_model(store, pid, size, progress=_progress(job))

    def again() -> None:
        em = tasks._enqueue(queue, store, pid, "retrain_end_model", size,
                            meta={"type": "train_end_model", "project": pid, "auto": True})
        store.record_job(pid, em.id)

    return tasks.run_exclusive(store, pid, "end_model", body, again)


def refill_auto(pid: str, size: int = 100) -> dict[str, Any]:
    """Low-water refill: re-rank with the stored proba (no model fit)."""
    store, _ = _store()
    out: dict[str, Any] = {"queue_size": -1}
    try:
        out = services.refill_queue(store, pid, size)
    finally:
        if out["queue_size"] == 0:  # pool exhausted: hold the flag a little
            store.r.expire(store._k(pid, "flag", "refill_pending"), 5)
        else:
            store.clear_flag(pid, "refill_pending")
    return out


def export(pid: str, fmt: str = "jsonl") -> dict[str, Any]:
    """Build the export file and keep it in Redis for a day."""
    store, _ = _store()
    data = services.export_bytes(store, pid, fmt)
    key = f"loop:p:{pid}:export:{fmt}"
    store.r.set(key, data, ex=86400)
    return {"key": key, "bytes": len(data), "format": fmt}
