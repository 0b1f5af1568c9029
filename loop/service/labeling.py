"""Applying a project's LFs to its items, in chunks spread over the workers.

A run stores its chunks under a new ``L`` version; :func:`merge` checks every
chunk is there and publishes the new ``L`` with one write (readers see the old
``L`` or the new one, never a mix).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loop.core.apply import LFErrorSummary, apply_lfs, chunk_bounds, merge_errors
from loop.core.lf import LabelingFunction, Record
from loop.errors import LFTimeout, NotReady
from loop.service.lf_modules import load_lfs
from loop.storage import RedisStore

Progress = Callable[[int, int], None]


class _Interrupted(BaseException):
    """Carries a time-limit interrupt past ``apply_lfs``, which turns every
    ``Exception`` an LF raises into an abstain."""

    def __init__(self, lf: str, item: Any) -> None:
        super().__init__(lf, item)
        self.lf, self.item = lf, item


class _Watched:
    """An LF whose call, if the job's time limit interrupts it, names itself and the
    item instead of counting as one more LF error."""

    def __init__(self, lf: LabelingFunction, interrupts: tuple[type[BaseException], ...]):
        self.lf, self.name, self.interrupts = lf, lf.name, interrupts

    def __call__(self, x: Any) -> Any:
        try:
            return self.lf(x)
        except self.interrupts:
            raise _Interrupted(self.name, x.get("id")) from None


def plan(store: RedisStore, pid: str, chunk_size: int) -> dict[str, Any]:
    """A new ``L`` version and its chunks ``[(chunk, start, stop)]`` over every item."""
    n = store.n_items(pid)
    if n == 0:
        raise NotReady("upload items before applying LFs")
    return {"version": store.new_L_version(pid), "n_items": n, "chunk_size": chunk_size,
            "chunks": [(c, a, b) for c, (a, b) in enumerate(chunk_bounds(n, chunk_size))]}


def apply_chunk(
    store: RedisStore, pid: str, version: int, chunk: int, start: int, stop: int,
    progress: Progress | None = None,
    interrupts: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Apply the project's LFs to rows ``[start, stop)``; store the chunk of ``L``.

    ``interrupts``: the exception types a time limit raises inside a running LF
    (RQ's job timeout); one of them stops the chunk with :class:`LFTimeout`
    naming the LF and the item it was on.
    """
    project = store.get_project(pid)
    lfs: list[Any] = load_lfs(project["lf_module"])
    if interrupts:
        lfs = [_Watched(lf, interrupts) for lf in lfs]
    ids = store.item_ids(pid, start, stop)
    items = store.items(pid, ids)
    recs = [Record({**i["fields"], "id": i["id"], "text": i["text"],
                    project["text_field"]: i["text"]}) for i in items]

    def report(done: int, total: int) -> None:
        store.set_apply_progress(pid, version, chunk, done)
        if progress is not None:
            progress(done, total)

    try:
        res = apply_lfs(lfs, recs, n_classes=len(project["labels"]), ids=ids, progress=report,
                        progress_every=max(200, len(recs) // 5))
    except _Interrupted as hit:
        raise LFTimeout(f"LF {hit.lf!r} was still running on item {hit.item!r} when the "
                        f"chunk of rows {start}-{stop - 1} hit its time limit "
                        "(LOOP_LF_CHUNK_TIMEOUT); fix the LF and apply again") from None
    store.save_L_chunk(pid, version, chunk, res.L,
                       [{"lfs": [lf.name for lf in lfs]}, *res.errors_as_dicts()])
    return {"chunk": chunk, "n_items": stop - start,
            "n_errors": sum(e.count for e in res.errors.values())}


def merge(store: RedisStore, pid: str, version: int, n_chunks: int, chunk_size: int,
          n_items: int) -> dict[str, Any]:
    """Publish the ``L`` of ``version`` once every chunk is stored."""
    parts, names = [], None
    for c in range(n_chunks):
        errs = store.L_chunk_errors(pid, version, c)
        if errs is None:
            raise NotReady(f"chunk {c} of the LF run is missing")
        head, rest = errs[0], errs[1:]
        if names is not None and head["lfs"] != names:
            raise NotReady("the LF module changed during the run; apply the LFs again")
        names = head["lfs"]
        parts.append({e["lf"]: LFErrorSummary(e["lf"], e["count"], e["example_id"],
                                              e["example_error"]) for e in rest})
    errors = [e.to_dict() for e in merge_errors(parts).values()]
    chunks = [store.L_chunk_key(pid, version, c) for c in range(n_chunks)]
    meta = {"version": version, "n_lfs": len(names or []), "lf_names": names or [],
            "chunk_size": chunk_size, "chunks": chunks, "n_items": n_items,
            "errors": errors, "applied_at": time.time()}
    store.publish_L(pid, meta)
    L, _ = store.load_L(pid)
    if L is None or L.shape[0] != n_items:
        raise NotReady(f"L has {0 if L is None else L.shape[0]} rows for {n_items} items; "
                       "apply the LFs again")
    return {"n_items": int(L.shape[0]), "n_lfs": len(names or []),
            "coverage": float((L >= 0).any(axis=1).mean()) if L.size else 0.0}
