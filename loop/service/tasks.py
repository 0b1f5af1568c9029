"""RQ entry points: thin. Each builds the store from the worker's connection and
calls one service function; each is idempotent (it recomputes and overwrites
its outputs), so RQ may retry it or re-run it after its worker died.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from rq import Queue, get_current_job

from loop.errors import (
    BadRequest,
    LFModuleNotOnWorker,
    LFRunSuperseded,
    LFTimeout,
    NotReady,
    ProjectNotFound,
)
from loop.service import labeling, models
from loop.service.jobs import (
    apply_covering,
    claim_apply,
    enqueue_apply,
    enqueue_task,
    enqueuer,
    epoch,
)
from loop.service.recalibration import RecalibrationPolicy, Recalibrator, record_failure
from loop.service.settings import Settings
from loop.service.worker import START_NOTED_ENV, alive_workers, miss_label, note_start
from loop.storage import RedisStore

#: Job id -> when this process's run of it started (a work horse runs one job).
RUN_STARTED: dict[str, float] = {}


def _job() -> Any:
    """The running job, with this attempt's start noted in its meta (``starts``):
    a job re-run after its worker died keeps the time of its first attempt. A
    ``LoopWorker`` notes it before it forks the run (:func:`note_start`); another
    worker class (RQ's ``SimpleWorker`` in tests) here."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("loop.service.tasks functions run inside an RQ worker")
    if os.environ.get(START_NOTED_ENV) != job.id:
        note_start(job)
    starts = job.meta.get("starts") or [time.time()]
    RUN_STARTED[job.id] = float(starts[-1])  # this run's (see _outlived)
    return job


def _outlived(job: Any, out: dict[str, Any]) -> dict[str, Any]:
    """What a run of ``job`` that was skipped reports. A run frozen past its worker's
    liveness (SIGSTOP, a stalled VM) was re-run by another worker and lost its lock;
    when it resumes and ends, RQ writes its outcome over the job's one record. If a
    later run of the job has finished, its outcome stands (fault trial: the record of
    a recalibration that did complete read "skipped ... lost its lock")."""
    from rq.results import Result

    if not out.get("skipped"):
        return out
    mine = RUN_STARTED.get(job.id)
    starts = job.get_meta(refresh=True).get("starts") or []
    if mine is None or not starts or max(float(t) for t in starts) <= mine:
        return out
    last = job.latest_result()
    if last is None or last.type != Result.Type.SUCCESSFUL:
        return out
    if (epoch(last.created_at) or 0.0) > mine and isinstance(last.return_value, dict):
        return dict(last.return_value)
    return out


def _of_project(task: Any) -> Any:
    """A task of project ``pid`` (its first argument) that fails because the project
    was deleted while it waited or ran fails once, saying so: its keys went from under
    it (an ``IndexError`` that RQ retried twice, and only then "no project":
    operator's trial), and nothing is left to run it for."""
    @functools.wraps(task)
    def run(pid: str, *args: Any, **kw: Any) -> Any:
        try:
            return task(pid, *args, **kw)
        except Exception as exc:
            job = get_current_job()
            try:
                gone = job is not None and not job.connection.exists(RedisStore.project_key(pid))
            except Exception:  # Redis unreachable: RQ's retries are right then
                gone = False
            if not gone:
                raise
            _no_more_tries(job)
            raise ProjectNotFound(f"project {pid!r} was deleted while this job ran; "
                                  "nothing to retry") from exc
    return run


def _no_more_tries(job: Any) -> None:
    """RQ fails this run of ``job`` for good: running it again would find the same."""
    job.retries_left = 0
    job.save()


#: A job missed this many times for want of its LF module fails even while some live
#: worker has not tried it (all of them busy the whole time).
MAX_MISSES = 50


def try_elsewhere(job: Any) -> bool:
    """After :class:`LFModuleNotOnWorker` in this worker: let another worker run the
    job (True), or fail it for good once every live worker has missed it (False).

    A module on some machines and not on others (operator's trial: a worker started
    on a second machine took apply runs and failed them at once, and recalibrations
    waited 10 minutes for the next try). The misses are kept in the job's meta
    (``lf_module_misses``: the workers' names), so its record says where it could
    not run; a worker that missed steps aside before its next job
    (:meth:`loop.service.worker.LoopWorker.execute_job`)."""
    meta = job.get_meta(refresh=True)
    me = miss_label(job.worker_name)
    misses = [*(meta.get("lf_module_misses") or []), me]
    meta["lf_module_misses"] = misses
    job.save_meta()
    if meta.get("run"):  # a unit or the merge: the run's record, which the page lists
        _note_miss(job.connection, str(meta["run"]), me)
    if len(set(misses)) >= max(alive_workers(job.connection), 1) or len(misses) >= MAX_MISSES:
        _no_more_tries(job)
        return False
    job.retries_left = max(int(job.retries_left or 0), 1)
    job.save()
    return True


def _note_miss(connection: Any, run_id: str, worker: str) -> None:
    """Add ``worker`` to the misses of the apply run ``run_id`` (its planning job)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        run = Job.fetch(run_id, connection=connection)
    except NoSuchJobError:
        return
    meta = run.get_meta(refresh=True)
    meta["lf_module_misses"] = [*(meta.get("lf_module_misses") or []), worker]
    run.save_meta()


def _no_retry(job: Any, fn: Any, *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)``; a :class:`NotReady` (a step it needs has not run, e.g.
    the LFs are not applied to new items) or a :class:`BadRequest` (the project's
    LF module does not import) fails the job without retries: running it again at
    once finds the same (new-user trial: a syntax error was run 3 times, which
    reads as a worker that died twice)."""
    try:
        return fn(*args, **kw)
    except LFModuleNotOnWorker:
        try_elsewhere(job)
        raise
    except (NotReady, BadRequest):
        _no_more_tries(job)
        raise


def _progress(job: Any) -> Any:
    def report(done: int, total: int) -> None:
        # read first: the job's meta holds more than this run knew when it began (a
        # later run's start, should this one have been frozen and re-run meanwhile)
        meta = job.get_meta(refresh=True)
        meta["progress"] = {"done": done, "total": total, "at": time.time()}
        job.save_meta()

    return report


def _recalibrator(job: Any, size: int, policy: dict[str, Any] | None) -> Recalibrator:
    store = RedisStore(job.connection)
    queue = Queue(job.origin, connection=job.connection)
    def apply(pid: str) -> str:
        running = apply_covering(job.connection, store, pid)
        if running is not None:  # it applies them and then recalibrates
            return running
        settings = Settings.from_env()
        return str(enqueue_apply(queue, store, pid, settings.chunk_size,
                                 settings.lf_chunk_timeout, size).id)

    return Recalibrator(store, enqueuer(queue, store), RecalibrationPolicy(**(policy or {})),
                        size, owner=job.worker_name, job_id=job.id, apply=apply)


@_of_project
def apply_lfs(pid: str, chunk_size: int, unit_timeout: int,
              recalibrate_size: int | None = None) -> dict[str, Any]:
    """Plan an apply run (what changed since the last one) and enqueue its units
    of work, spread over every worker, and the merge that publishes ``L``
    (followed by a recalibration when ``recalibrate_size`` is given)."""
    job = _job()
    store = RedisStore(job.connection)
    queue = Queue(job.origin, connection=job.connection)
    claim_apply(store, pid, recalibrate_size is not None, job.id)  # before reading the LFs
    try:
        p = _no_retry(job, labeling.plan, store, pid, chunk_size)
    except Exception as exc:  # kept for /metrics: recalibrations wait for this run
        if not (isinstance(exc, LFModuleNotOnWorker) and job.retries_left):
            record_failure(store, pid, "apply_status", exc)
        raise
    v = p["version"]
    rows = [u["stop"] - u["start"] for u in p["units"]]
    groups = labeling.unit_groups(len(rows), chunk_size, alive_workers(job.connection))
    units = [enqueue_task(queue, store, "apply_lfs_unit", pid, v, g, unit_timeout,
                          record=False, job_timeout=unit_timeout * len(g),
                          meta={"type": "apply_lfs_unit", "project": pid, "run": job.id,
                                "progress": {"done": 0, "total": sum(rows[i] for i in g)}})
             for g in groups]
    merge = enqueue_task(queue, store, "merge_lfs", pid, v, recalibrate_size, chunk_size,
                         unit_timeout, record=False,
                         depends_on=units or None,
                         meta={"type": "merge_lfs", "project": pid, "run": job.id})
    meta = job.get_meta(refresh=True)  # a cancel may have written its reason meanwhile
    meta.update({"L_version": v, "chunk_jobs": [u.id for u in units],
                 "merge_job": merge.id, "rows": p["rows"]})
    job.save_meta()
    out = {"version": v, "units": len(rows), "unit_jobs": len(units), "rows": p["rows"],
           "lfs_recomputed": p["changed"], "new_rows": p["n_items"] - p["old_n"]}
    reason = store.run_stop_reason(pid, job.id)
    if reason:  # canceled while planning: its cancel could not see these jobs
        for j in (*units, merge):
            _cancel_queued(j, reason)
        out["stopped"] = reason
    return out


def _cancel_queued(job: Any, reason: str) -> None:
    """Cancel ``job`` for ``reason`` unless a worker has taken it (a unit then looks
    for its run's stop note before each unit)."""
    from rq.exceptions import InvalidJobOperation

    try:
        if job.get_status(refresh=True) in ("queued", "deferred", "scheduled"):
            job.meta["stop_reason"] = reason
            job.save_meta()
            job.cancel()
    except InvalidJobOperation:
        pass


@_of_project
def apply_lfs_unit(pid: str, version: int, unit: int | list[int],
                   unit_timeout: int | None = None) -> dict[str, Any]:
    """Compute units of an apply run, one after another in this work horse (a job per
    unit cost a fresh horse each); each unit may take ``unit_timeout`` seconds, and
    past it the job fails naming the LF and item, and is not retried. Units a
    failed try of the job stored already are not computed again."""
    from rq.timeouts import JobTimeoutException

    job = _job()
    store = RedisStore(job.connection)
    todo = [unit] if isinstance(unit, int) else [int(u) for u in unit]
    plan = store.apply_plan(pid, version)
    sizes = [int(plan["units"][i]["stop"]) - int(plan["units"][i]["start"]) for i in todo]
    report, before, out = _progress(job), 0, []
    for i, n in zip(todo, sizes, strict=True):
        if store.unit_stored(pid, version, i):
            before += n
            continue
        meta = job.get_meta(refresh=True)
        reason = meta.get("stop_reason") or store.run_stop_reason(pid, meta.get("run"))
        if reason:  # canceled after a worker took it (fault trial: a canceled job of
            # 3 units taken off the queue as the cancel ran computed all 3, 10 s)
            return {"units": todo, "rows": before, "stopped": reason}
        if unit_timeout:
            _unit_time_limit(unit_timeout)
        try:
            out.append(labeling.apply_unit(store, pid, version, i,
                                           interrupts=(JobTimeoutException,),
                                           progress=_offset(report, before, sum(sizes))))
        except LFRunSuperseded:  # the merge gives way to the newer run (not a failure)
            return {"units": todo, "superseded": True}
        except LFTimeout as exc:
            if _run_again_since(job):  # frozen past its time limit and re-run elsewhere
                return _outlived(job, {"units": todo, "skipped": True, "reason": (
                    "this run was frozen past its time limit and the job ran again")})
            _no_more_tries(job)  # the same LF on the same items would hang again
            record_failure(store, pid, "apply_status", exc)
            raise
        except LFModuleNotOnWorker as exc:
            if not try_elsewhere(job):
                record_failure(store, pid, "apply_status", exc)
            raise
        before += n
    return {"units": todo, "rows": sum(sizes),
            "n_errors": sum(int(o["n_errors"]) for o in out)}


def _run_again_since(job: Any) -> bool:
    """Whether ``job`` was started again after this run began: this run was frozen
    (SIGSTOP, a stalled machine) past its worker's liveness and the job re-run by
    another worker. Its time limit, an alarm, ran on while it was frozen and fires as
    it resumes (fault trial: the late run of a unit job whose re-run had finished
    failed it "LF ... was still running ... hit its time limit", its record turned
    from finished to failed and /metrics said the project's last apply run failed)."""
    mine = RUN_STARTED.get(job.id)
    starts = job.get_meta(refresh=True).get("starts") or []
    if mine is not None and any(float(t) > mine for t in starts):
        return True
    # handed back for a re-run (its worker counted dead) and not yet started again: a
    # 20 s freeze failed the run, and the re-run then finished it
    return str(getattr(s := job.get_status(refresh=True), "value", s)) != "started"


def _offset(report: Any, before: int, total: int) -> Any:
    """A unit's progress reported as the job's: ``before`` rows done by its earlier
    units, of ``total``."""
    def unit_report(done: int, _: int) -> None:
        report(before + done, total)

    return unit_report


def _unit_time_limit(seconds: int) -> None:
    """Give the next unit of a job ``seconds`` of its own: RQ's time limit (an alarm
    whose handler raises ``JobTimeoutException``, set for the whole job) is started
    again. Only in a work horse under that handler."""
    import signal

    if callable(signal.getsignal(signal.SIGALRM)):
        signal.alarm(seconds)


@_of_project
def merge_lfs(pid: str, version: int, recalibrate_size: int | None = None,
              chunk_size: int | None = None, unit_timeout: int | None = None,
              ) -> dict[str, Any]:
    """Publish the new L once every unit is stored; then, with
    ``recalibrate_size``, enqueue a recalibration (label model, queue, end model).

    If another run published ``L`` meanwhile (two rules saved a moment apart), this
    one is superseded: when the published ``L`` still lacks an LF or item, a new
    run is planned from it (``result["reapplied_as"]``), else nothing is left to do.
    """
    job = _job()
    store = RedisStore(job.connection)
    queue = Queue(job.origin, connection=job.connection)
    reason = store.run_stop_reason(pid, job.get_meta(refresh=True).get("run"))
    if reason:  # its run was canceled: L stays as published
        return {"stopped": reason}
    try:
        try:
            out = labeling.merge(store, pid, version)
        except LFRunSuperseded:
            if chunk_size is None or unit_timeout is None:  # enqueued before runs said how
                return {"superseded": True, "up_to_date": False}
            if labeling.up_to_date(store, pid):
                return {"superseded": True, "up_to_date": True}
            again = enqueue_apply(queue, store, pid, chunk_size, unit_timeout,
                                  recalibrate_size)
            return {"superseded": True, "reapplied_as": again.id}
    except LFModuleNotOnWorker as exc:  # the LFs are read only when the run gave way
        if not try_elsewhere(job):
            record_failure(store, pid, "apply_status", exc)
        raise
    store.set_value(pid, "apply_status", {"ok_at": time.time(), "error": None})
    if recalibrate_size is not None:
        rc = enqueue_task(queue, store, "recalibrate",
                          pid, recalibrate_size, True,
                          # asked for with the apply run (recalibrate: true, a rule saved)
                          meta={"type": "recalibrate", "project": pid})
        out["recalibrate_job"] = rc.id
    return out


@_of_project
def recalibrate(pid: str, size: int, full: bool = False, end_model: bool = True,
                policy: dict[str, Any] | None = None, auto: bool = False) -> dict[str, Any]:
    """Refit the label model and re-rank; then the end model (inline when ``full``).
    ``auto``: asked for by the recalibration policy (skipped if nothing changed)."""
    job = _job()
    return _outlived(job, _no_retry(job, _recalibrator(job, size, policy).run, pid,
                                    full=full, end_model=end_model, progress=_progress(job),
                                    auto=auto))


@_of_project
def retrain_end_model(pid: str, size: int, point_id: str | None = None, wait: bool = False,
                      again_only: bool = False) -> dict[str, Any]:
    """Retrain the end model and re-rank (one at a time per project); ``again_only``:
    only if a retrain asked for while another ran is still owed (see
    :meth:`Recalibrator.run_end_model`)."""
    job = _job()
    return _outlived(job, _no_retry(job, _recalibrator(job, size, None).run_end_model, pid,
                                    point_id=point_id, wait=wait, progress=_progress(job),
                                    again_only=again_only))


#: Seconds from a refill's start until a short queue may ask for the next: when a
#: refill cannot fill the queue (the items left are leased to others, or skipped),
#: every answer asked for one, each ranking every item again (fault trial).
REFILL_GAP = 5.0


@_of_project
def refill_queue(pid: str, size: int) -> dict[str, Any]:
    """Re-rank the queue with the stored probabilities (no model fit). An automatic
    refill (the queue ran low) that finds items the LFs have not seen yet is skipped:
    the apply run of those items re-ranks after it (operator's trial: one failed three
    times while uploads landed, and read as a fault)."""
    job = _job()
    store = RedisStore(job.connection)
    store.shorten_flag(pid, "refill_pending", REFILL_GAP)  # then a short queue asks again
    if not job.meta.get("auto"):
        return _no_retry(job, models.refill, store, pid, size)
    try:
        return models.refill(store, pid, size)
    except NotReady as exc:
        return {"skipped": True, "reason": f"{exc}; the queue is re-ranked once they are"}


@_of_project
def export(pid: str, fmt: str = "jsonl") -> dict[str, Any]:
    """Build the export file and keep it in Redis for a day, for
    ``GET /api/jobs/<id>/download`` (a project keeps its newest few: ``keep_export``)."""
    from loop.service.export import (
        EXPORT_TTL,
        EXPORTS_KEPT,
        MAX_EXPORT_BYTES,
        export_bytes,
        export_key,
    )

    job = _job()
    store = RedisStore(job.connection)
    progress = _progress(job)
    progress(0, 2)  # building the file, then storing it
    data = export_bytes(store, pid, fmt)
    progress(1, 2)
    if len(data) > MAX_EXPORT_BYTES:
        raise ValueError(f"the export is {len(data) >> 20} MB, more than an export job keeps "
                         f"({MAX_EXPORT_BYTES >> 20} MB); read it from GET "
                         f"/api/projects/{pid}/export?format={fmt} instead")
    store.keep_export(pid, export_key(job.id), data, keep=EXPORTS_KEPT, ttl=EXPORT_TTL)
    progress(2, 2)
    return {"bytes": len(data), "format": fmt, "download": f"/api/jobs/{job.id}/download"}


def purge_project(pid: str) -> dict[str, Any]:
    """Sweep a deleted project's keys again (those a job running at its deletion
    wrote after it)."""
    job = _job()
    return {"keys": RedisStore(job.connection).purge_project_keys(pid)}
