"""Thin RQ jobs: build the store from the worker's connection, call one service.

Each job is idempotent (it recomputes and overwrites its outputs), so RQ may
retry it (``Retry(max=3)``) or re-run it after its worker died.
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from loop import services
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


def recalibrate(pid: str, size: int = 100) -> dict[str, Any]:
    """Refit everything with the current gold; clears the pending flag first (coalescing)."""
    store, job = _store()
    store.clear_flag(pid, "recal_pending")
    return services.recalibrate(store, pid, size, progress=_progress(job))


def export(pid: str, fmt: str = "jsonl") -> dict[str, Any]:
    """Build the export file and keep it in Redis for a day."""
    store, _ = _store()
    data = services.export_bytes(store, pid, fmt)
    key = f"loop:p:{pid}:export:{fmt}"
    store.r.set(key, data, ex=86400)
    return {"key": key, "bytes": len(data), "format": fmt}
