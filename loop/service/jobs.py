"""The job queue API side: enqueue jobs by name, report on them, cancel them.

Jobs are the functions of :mod:`loop.service.tasks`, enqueued by dotted path with
ids and primitives only, so this module never imports them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from redis.exceptions import LockError
from rq import Retry

from loop.errors import BadRequest, Conflict, JobNotFound, NotReady
from loop.service.rules import NO_LFS, has_lfs
from loop.service.settings import Settings
from loop.storage import RedisStore

if TYPE_CHECKING:
    from rq import Queue
    from rq.job import Job

#: What ``POST /api/projects/<pid>/jobs`` accepts as ``type``.
JOB_TYPES = ("apply_lfs", "recalibrate", "fit_label_model", "train_end_model", "refill_queue",
             "export")
#: Job types that need ``L`` for every item (a 409 until ``apply_lfs`` has run).
NEEDS_L = ("recalibrate", "fit_label_model", "train_end_model", "refill_queue")
#: Retries of a job whose worker died or which raised (immediate re-enqueue).
RETRY = Retry(max=2)
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


#: Automatic jobs that close the loop and take about a second (label model refit and
#: re-rank; queue refill): they go to the head of the queue, ahead of heavy work
#: waiting there (apply runs, end-model retrains, exports) of any project.
AT_FRONT = frozenset({"recalibrate", "refill_queue"})
#: Automatic jobs that run every few answers: their records are kept an hour once
#: finished, not a day (soak trial: about 7 KB each in Redis, a day of them 550 MB
#: at 4 answers a second); failed ones are kept a day, as every other job is.
FREQUENT = AT_FRONT | {"train_end_model"}


def enqueue_task(queue: Queue, store: RedisStore, func: str, pid: str, *args: Any,
                 meta: dict[str, Any], job_timeout: int = 1800, record: bool = True,
                 delay: float | None = None, **kw: Any) -> Job:
    """Enqueue ``loop.service.tasks.<func>(pid, *args)`` (after ``delay`` seconds:
    RQ's scheduler, which the workers run); with ``record``, list it among the
    project's jobs (``meta["auto"]``: among the automatic ones). An automatic job of
    :data:`AT_FRONT` goes to the head of the queue: behind another project's backlog
    an answer waited minutes to reach the models (operator's trial: a small
    project's first rule took 3 min 22 s from save to fitted models)."""
    if meta.get("auto") and meta.get("type") in AT_FRONT:
        kw.setdefault("at_front", True)
    frequent = bool(meta.get("auto")) and meta.get("type") in FREQUENT
    opts = dict(meta=meta, retry=RETRY, job_timeout=job_timeout,
                result_ttl=3600 if frequent else 86400, failure_ttl=86400, **kw)
    name = f"loop.service.tasks.{func}"
    if delay:
        from datetime import timedelta

        job = queue.enqueue_in(timedelta(seconds=delay), name, pid, *args, **opts)
    else:
        job = queue.enqueue(name, pid, *args, **opts)
    if record:
        store.record_job(pid, job.id, auto=bool(meta.get("auto")))
    return job


def enqueuer(queue: Queue, store: RedisStore) -> Callable[..., str]:
    """``enqueue(func, pid, *args, meta=..., delay=None)`` -> job id: :func:`enqueue_task`
    on ``queue``, the form a :class:`~loop.service.recalibration.Recalibrator` takes."""

    def enqueue(func: str, pid: str, *args: Any, meta: dict[str, Any],
                delay: float | None = None) -> str:
        return str(enqueue_task(queue, store, func, pid, *args, meta=meta, delay=delay).id)

    return enqueue


def _pending_apply_key(pid: str, recalibrate: bool) -> str:
    return f"loop:apply_pending:{pid}:{int(recalibrate)}"


def _running_apply_key(pid: str) -> str:
    """The last apply run of the project that started and recalibrates after it."""
    return f"loop:apply_running:{pid}"


#: When a deleted project's keys are swept again: after any job that was running on
#: it when it was deleted has ended (a job's time limit is 30 minutes).
PURGE_AGAIN_SECONDS = 3600


def after_delete(queue: Queue, store: RedisStore, pid: str, job_ids: list[str]) -> None:
    """A project was deleted: its jobs (``job_ids``, read before the delete) are
    stopped, its pending apply-run marks go, and its keys are swept again later
    (those a job that finished its step before it was stopped writes after it)."""
    for jid in job_ids:  # a heavy run held a worker for up to its time limit
        try:
            cancel(store.r, jid, reason="its project was deleted", held=False)
        except (JobNotFound, Conflict):
            continue
    store.r.delete(*(_pending_apply_key(pid, r) for r in (False, True)),
                   _running_apply_key(pid))
    enqueue_task(queue, store, "purge_project", pid, record=False, delay=PURGE_AGAIN_SECONDS,
                 meta={"type": "purge_project", "project": pid})


#: Delete KEYS[1] if it still names the job ARGV[1].
_CLAIM = ("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
          "end return 0")


def enqueue_apply(queue: Queue, store: RedisStore, pid: str, chunk_size: int,
                  unit_timeout: int, recalibrate_size: int | None, auto: bool = False) -> Job:
    """An ``apply_lfs`` run of project ``pid``: a run already queued and not yet
    started (the same ``recalibrate_size`` or not) is returned instead of a second
    one. A run reads the LFs when it starts, so it will apply every rule saved
    before that; ten rules saved in a second make one run, not ten. ``auto``: asked
    for by the service, not by a user (listed among the automatic jobs)."""
    key = _pending_apply_key(pid, recalibrate_size is not None)
    if recalibrate_size is not None:  # a recalibration waits on it: /metrics' loop says
        store.mark_recal_requested(pid, time.time())  # so, and when it is overdue
    # the check and the enqueue as one (concurrency trial: four "apply" requests at
    # once made four runs, each recalibrating after it); a lock not had within a few
    # seconds only costs a second run, never the request
    lock = store.r.lock(f"{key}:enqueue", timeout=10, blocking_timeout=5,
                        thread_local=False)
    held = lock.acquire()
    try:
        job = waiting_job(queue.connection, store.r.get(key))
        if job is not None:
            return job
        job = enqueue_task(queue, store, "apply_lfs", pid, chunk_size, unit_timeout,
                           recalibrate_size,
                           meta={"type": "apply_lfs", "project": pid, "auto": auto,
                                 "progress": {"done": 0, "total": store.n_items(pid)}})
        store.r.set(key, job.id, ex=86400)
        return job
    finally:
        if held:
            try:
                lock.release()
            except LockError:  # held past its timeout: taken over, nothing to free
                pass


def waiting_job(connection: Any, job_id: str | bytes | None) -> Job | None:
    """Job ``job_id`` if it waits in its queue for a worker (queued, not yet started);
    else None (started, ended, gone, or no id)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not job_id:
        return None
    try:
        job = Job.fetch(job_id.decode() if isinstance(job_id, bytes) else str(job_id),
                        connection=connection)
    except NoSuchJobError:
        return None
    return job if job.get_status(refresh=False) == "queued" else None


#: The states of a job still to run or running.
LIVE_STATES = ("queued", "started", "deferred", "scheduled")


def live_job(connection: Any, job_id: str | bytes | None) -> bool:
    """Whether job ``job_id`` is still to run or running (False: ended, gone, or no
    id)."""
    from rq.exceptions import NoSuchJobError

    if not job_id:
        return False
    try:
        status = job_status(connection, job_id.decode() if isinstance(job_id, bytes)
                            else str(job_id))["status"]
    except (JobNotFound, NoSuchJobError):
        return False
    return status in LIVE_STATES


def claim_apply(store: RedisStore, pid: str, recalibrate: bool, job_id: str) -> None:
    """Run ``job_id`` starts: later requests get a run of their own (it may have
    read the LFs before their rule was saved)."""
    store.r.eval(_CLAIM, 1, _pending_apply_key(pid, recalibrate), job_id)
    if recalibrate:
        store.r.set(_running_apply_key(pid), job_id, ex=86400)


def apply_covering(connection: Any, store: RedisStore, pid: str) -> str | None:
    """The id of an apply run of ``pid`` that has started, is still going, plans
    every item the project holds now and recalibrates after it; else None.

    A recalibration that finds items without LF votes waits for it instead of
    asking for a run of its own (operator's trial: answers during an upload's run
    made two to four runs compute the same new items)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    jid = store.r.get(_running_apply_key(pid))
    if not jid:
        return None
    jid = jid.decode() if isinstance(jid, bytes) else str(jid)
    try:
        status = job_status(connection, jid)["status"]
        meta = Job.fetch(jid, connection=connection).get_meta(refresh=False)
    except (JobNotFound, NoSuchJobError):
        return None
    if status not in LIVE_STATES:
        return None
    if meta.get("L_version") is None:  # planning now: it reads the items as they are
        return jid
    plan = store.apply_plan(pid, int(meta["L_version"]))
    return jid if plan and int(plan["n_items"]) >= store.n_items(pid) else None


def enqueue(queue: Queue, store: RedisStore, settings: Settings, pid: str,
            job_type: Any, recalibrate_after: bool = False, fmt: Any = "jsonl") -> Job:
    """Enqueue one job of ``job_type`` for project ``pid`` (``recalibrate_after``:
    an ``apply_lfs`` run is followed by a recalibration; ``fmt``: an export's
    format, ``csv`` or ``jsonl``)."""
    store.get_project(pid)
    if job_type is None:
        raise BadRequest(f"say which job to run: {{\"type\": ...}}, one of {list(JOB_TYPES)}")
    if job_type not in JOB_TYPES:
        raise BadRequest(f"unknown job type {job_type!r}; choose one of {list(JOB_TYPES)}")
    size = settings.queue_size
    if job_type in NEEDS_L:
        meta = store.L_meta(pid)
        if not meta or meta.get("n_items") != store.n_items(pid):
            raise NotReady(f"{job_type} needs the LFs applied to every item first: "
                           '{"type": "apply_lfs", "recalibrate": true} applies them and '
                           "then recalibrates (if an apply_lfs job is running, start this "
                           "one once it has finished)")
    if job_type == "apply_lfs":
        if store.n_items(pid) == 0:
            raise NotReady("upload items before applying LFs")
        if not has_lfs(store, pid):
            raise NotReady(NO_LFS)
        # planned in a worker (it imports the LFs and sees what changed), which then
        # enqueues the units of work and the merge
        return enqueue_apply(queue, store, pid, settings.chunk_size,
                             settings.lf_chunk_timeout, size if recalibrate_after else None)
    if job_type in ("recalibrate", "train_end_model"):
        from loop.service.recalibration import END_MODEL_JOB

        job = (enqueue_task(queue, store, "recalibrate", pid, size, True,
                            meta={"type": job_type, "project": pid})
               if job_type == "recalibrate" else
               enqueue_task(queue, store, "retrain_end_model", pid, size, None, True,
                            meta={"type": job_type, "project": pid}))
        # an admin's run that fails for good is followed up as an automatic one is
        # (service trial: the reconciler looked at automatic retrains only)
        store.set_value(pid, END_MODEL_JOB, job.id)
        return job
    if job_type == "fit_label_model":
        return enqueue_task(queue, store, "recalibrate", pid, size, False, False,
                            meta={"type": job_type, "project": pid})
    if job_type == "refill_queue":
        return enqueue_task(queue, store, "refill_queue", pid, size,
                            meta={"type": job_type, "project": pid})
    from loop.service.export import FORMATS

    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {list(FORMATS)}, got {fmt!r}")
    return enqueue_task(queue, store, "export", pid, fmt,
                        meta={"type": job_type, "project": pid})


def _fetch(connection: Any, job_id: Any) -> Job:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise JobNotFound(f"no job {job_id!r}")
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        raise JobNotFound(f"no job {job_id!r}") from None


def job_status(connection: Any, job_id: Any, _hops: int = 0,
               stall_seconds: float | None = None) -> dict[str, Any]:
    """The API view of a job: id, type, whether it was automatic, status, progress,
    result, error, traceback, times.

    ``quiet_seconds``: how long a running job has reported no progress (since it
    started, or since its last report), a queued one has waited for a worker, or a
    scheduled one has been due without a scheduler moving it to the queue (None
    otherwise); ``stalled``: whether that is ``stall_seconds`` or more (its worker
    may be frozen or overloaded; for a queued job, no worker is free; for a
    scheduled one, no worker runs the scheduler). ``scheduled_for``: when a
    scheduled job is due (a delayed recalibration: its answers wait until then).

    An apply-LFs run superseded by another and planned again shows the status of
    the run that replaced it (``result["reapplied_as"]`` of its merge)."""
    job = _fetch(connection, job_id)
    meta = job.get_meta(refresh=True)
    status = job.get_status(refresh=False)
    # total None until the job says (speed trial: a total of 0 before the start had
    # a client divide by it)
    progress = dict(meta.get("progress", {"done": 0, "total": None}))
    # when it last showed a sign of work: its start, then each progress report
    signs = [epoch(job.started_at), progress.pop("at", None)]
    queued_since = epoch(job.enqueued_at)
    error = tb = None
    result = job.return_value() if status == "finished" else None
    if status == "failed":
        res = job.latest_result()
        tb = getattr(res, "exc_string", None)
        error = tb.strip().splitlines()[-1] if tb else "failed"
    if status in ("canceled", "stopped"):
        error = meta.get("stop_reason") or "canceled"
    ended = job.ended_at
    if status == "stopped" and ended is None:  # RQ notes a stop as a result, not an end
        # (API audit: a job stopped while it ran read ended_at null, as if it still ran)
        res = job.latest_result()
        ended = getattr(res, "created_at", None)
    merge_waits = False  # an apply run whose units are done and whose merge waits
    units_wait = False  # an apply run none of whose units is running
    if meta.get("type") == "apply_lfs" and status == "finished" and meta.get("merge_job"):
        # the plan is done: the run is as far as its units and merge are
        plan = result or {}
        merge = job_status(connection, meta["merge_job"])
        status, result, ended = merge["status"], merge["result"], None
        again = (result or {}).get("reapplied_as") if status == "finished" else None
        if again and _hops < 10:
            return {**job_status(connection, again, _hops + 1), "id": job.id}
        if status == "finished":
            result = {**(result or {}), "units": plan.get("units")}
        ended = merge["ended_at"]  # None while it runs; set when it finished or failed
        done, at = RedisStore(connection).apply_progress(meta["project"],
                                                         int(meta["L_version"]))
        progress = {"done": done, "total": meta.get("rows", 0)}
        # the plan ended when its units were queued; then the units and the merge work
        signs += [epoch(job.ended_at), at, epoch(merge["started_at"])]
        # queued is the merge waiting for a worker: since its units let it go, not
        # since the run was asked for (units that finish after an outage)
        queued_since = epoch(merge["enqueued_at"])
        if status == "finished" and not (result or {}).get("stopped"):
            progress["done"] = progress["total"]  # (a stopped run got as far as it got)
        # speed trial: a run went deferred -> queued -> finished, as if it had gone
        # back; once its plan has run it is under way until its merge ends
        merge_waits = str(getattr(status, "value", status)) in ("queued", "ready_to_enqueue")
        if status == "deferred":  # waits on its units: one that failed for good fails it
            bad = _ended_badly(connection, job.origin, meta.get("chunk_jobs", []))
            if bad is not None:
                c = job_status(connection, bad)
                status, error, tb = c["status"], c["error"], c["traceback"]
                ended = c["ended_at"]
            else:  # re-trial: units queued, none running (its worker frozen), and the
                # run said it was not waiting for one
                units_wait = not _any_started(connection, job.origin,
                                              meta.get("chunk_jobs", []))
        elif status != "finished":
            error, tb = merge["error"], merge["traceback"]
        elif (result or {}).get("stopped"):  # its merge found the run told to stop
            # (re-trial: a run canceled as it planned read "finished", no error, though
            # the cancel was taken and nothing was published)
            from rq.job import JobStatus

            status, error = JobStatus.CANCELED, result["stopped"]

    def iso(t: Any) -> str | None:
        return t.isoformat() if t else None

    starts = meta.get("starts") or []
    state = str(status.value if hasattr(status, "value") else status)
    if state == "ready_to_enqueue":  # RQ 3: what it waited on ended, it is being queued
        state = "queued"  # (RQ's own step; it was shown raw, and counted as ended)
    if merge_waits:
        state = "deferred"
    running = state in ("started", "deferred")
    last = max((float(t) for t in signs if t is not None), default=None)
    if state == "queued" or merge_waits:  # no worker has taken it (none free, none
        last = queued_since  # running or all frozen)
    due = _scheduled_for(connection, job) if state == "scheduled" else None
    if due is not None and due.timestamp() < time.time():
        last = due.timestamp()  # due, and no scheduler has queued it since
    quiet = (round(max(0.0, time.time() - last), 1)
             if (running or state == "queued" or due is not None) and last is not None
             else None)

    return {"id": job.id, "type": meta.get("type"), "project": meta.get("project"),
            "auto": bool(meta.get("auto")),
            # runs of it so far (more than 1: re-run after its worker died or it
            # raised; a start a worker without the LF module gave up at once is no
            # run: the dashboard said "run 2 times" of a job run once), and when the
            # first began
            "attempts": max(len(starts) - len(meta.get("lf_module_misses") or []),
                            min(len(starts), 1)),
            "first_started_at": iso(
                datetime.fromtimestamp(starts[0], tz=UTC) if starts else None),
            # the workers that could not run it for want of its LF module (in order)
            "lf_module_misses": list(meta.get("lf_module_misses") or []),
            "status": state, "scheduled_for": iso(due),
            "progress": progress, "result": result if status == "finished" else None,
            "quiet_seconds": quiet,
            # queued, or an apply run whose merge or units are: no worker has them
            "waiting_for_worker": state == "queued" or merge_waits or units_wait,
            "stalled": quiet is not None and stall_seconds is not None and quiet >= stall_seconds,
            "error": error, "traceback": tb, "created_at": iso(job.created_at),
            "enqueued_at": iso(job.enqueued_at),
            "started_at": iso(job.started_at),
            "ended_at": ended if isinstance(ended, str) or ended is None else iso(ended)}


def _scheduled_for(connection: Any, job: Job) -> datetime | None:
    """When a scheduled job is due (None if it left the schedule meanwhile)."""
    from rq.exceptions import NoSuchJobError
    from rq.registry import ScheduledJobRegistry

    try:
        return ScheduledJobRegistry(job.origin, connection=connection).get_scheduled_time(job)
    except NoSuchJobError:
        return None


def epoch(t: datetime | str | None) -> float | None:
    """Epoch seconds of an RQ time (a datetime, naive meaning UTC) or an ISO string."""
    if t is None:
        return None
    d = datetime.fromisoformat(t) if isinstance(t, str) else t
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def _ended_badly(connection: Any, queue: str, ids: list[str]) -> str | None:
    """The first of ``ids`` that failed for good or was stopped (two registry reads,
    however many units a run has)."""
    from rq import Queue
    from rq.registry import CanceledJobRegistry, FailedJobRegistry

    q = Queue(queue, connection=connection)
    out = set(FailedJobRegistry(queue=q).get_job_ids(cleanup=False))
    out |= set(CanceledJobRegistry(queue=q).get_job_ids(cleanup=False))
    return next((i for i in ids if i in out), None)


def _any_started(connection: Any, queue: str, ids: list[str]) -> bool:
    """Whether a worker is running any of ``ids`` (one registry read; its entries
    are ``job_id:execution_id``)."""
    from rq import Queue
    from rq.utils import parse_composite_key

    from loop.service.worker import started_entries

    wanted = set(ids)
    return any(parse_composite_key(e)[0] in wanted
               for e in started_entries(connection, Queue(queue, connection=connection)))


def cancel(connection: Any, job_id: Any, reason: str = "canceled by an admin",
           held: bool = True) -> dict[str, Any]:
    """Stop a queued or running job (and the chunks of an apply run).

    ``canceled``: every job told to stop; ``stopping``: those of them already
    running, which are asked to stop and may still finish first (read the job's
    status, whose ``error`` is ``reason``). ``held``: a canceled apply run is not
    asked for again by the workers' reconciler until the rules or the items change."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation

    job = _fetch(connection, job_id)
    meta = job.get_meta(refresh=True)
    if meta.get("type") == "apply_lfs" and meta.get("project") and job.get_status(
            refresh=True) not in ("finished", "failed", "canceled", "stopped"):
        # first: a run still planning has not noted its units' jobs yet, and enqueues
        # them after this read (fault trial: a run canceled within ms of its start
        # was computed and published); its plan, units and merge look for this note
        RedisStore(connection).stop_run(str(meta["project"]), job.id, reason)
    ids = [job.id, *meta.get("chunk_jobs", []), *filter(None, [meta.get("merge_job")])]
    stopped, running = [], []
    for jid in ids:
        j = _fetch(connection, jid)
        st = j.get_status(refresh=True)
        if st in ("finished", "failed", "canceled", "stopped"):
            continue
        j.meta["stop_reason"] = reason
        j.save_meta()
        if st == "started":  # stopped once the queued ones are canceled: a worker
            # whose job is stopped takes the next one at once (fault trial: it took a
            # unit of the same run not yet canceled, and computed it whole)
            running.append(jid)
        else:
            try:
                j.cancel()
            except InvalidJobOperation:
                continue
        stopped.append(jid)
    for jid in running:
        try:
            send_stop_job_command(connection, jid)
        except InvalidJobOperation:
            pass
    if not stopped and job_status(connection, job.id)["status"] in ("finished", "failed"):
        raise Conflict(f"job {job.id} already ended")
    if held and stopped and meta.get("type") == "apply_lfs" and meta.get("project"):
        # meant: the workers' reconciler does not start it again while nothing has
        # changed since (re-trial: a run canceled for a slow LF came back 30 s later)
        store = RedisStore(connection)
        pid = str(meta["project"])
        store.set_value(pid, "apply_canceled", {
            "at": time.time(), "rules_version": store.rules_version(pid),
            "n_items": store.n_items(pid)})
    return {"id": job.id, "canceled": stopped, "stopping": running}
