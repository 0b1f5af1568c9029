"""Work a request stored but never asked for, asked for by the workers.

A request stores first and asks for the work after: a rule is saved, then its
apply run is enqueued; an answer is stored, then the recalibration it makes due;
items are uploaded, then their apply run. A web process killed between the two
(operator's trial: SIGKILL injected right after the store's transaction) left the
change stored and the work never asked for: a rule listed as enabled but never
applied (and a retried save refused as existing), an answer outside the models
until another came, 50,000 items without LF votes. Every :data:`EVERY` seconds one
worker (:meth:`loop.service.worker.LoopWorker._beat`) looks at every project for
such work and asks for it as the request would have. Nothing is asked twice: the
apply run is returned when one is queued, and the recalibrator's flags hold.
An end model whose last retrain failed for good (its work horse killed on
every try, say) is retrained when it missed the newest label model (not
before :func:`~loop.service.recalibration.retry_at` of the failure: 10 minutes
after one, twice as long after each more in a row).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job

from loop.errors import JobNotFound
from loop.service.jobs import (
    _pending_apply_key,
    _running_apply_key,
    apply_covering,
    enqueue_apply,
    enqueuer,
    job_status,
    live_job,
    waiting_job,
)
from loop.service.lf_modules import module_file, module_version
from loop.service.recalibration import (
    END_MODEL_JOB,
    RecalibrationPolicy,
    Recalibrator,
    retry_at,
)
from loop.service.rules import has_lfs
from loop.service.settings import Settings
from loop.storage import RedisStore

log = logging.getLogger(__name__)

#: Seconds between two looks (by one worker at a time).
EVERY = 30.0


def apply_wanted(store: RedisStore, pid: str) -> str | None:
    """Why project ``pid`` needs an apply run that no run covers (items without LF
    votes, rules changed since the LFs were read), or None. Before the first apply
    there is none to want: that one is the user's."""
    meta = store.L_meta(pid)
    if not meta:
        return None
    n, applied = store.n_items(pid), int(meta.get("n_items", 0))
    read, now = meta.get("rules_version"), store.rules_version(pid)
    why = []
    if n > applied:
        why.append(f"{n - applied:,} items have no LF votes")
    if read is not None and now > int(read):
        why.append("rules changed since the LFs were applied")
    if not why or not has_lfs(store, pid):
        return None
    stop = store.get_value(pid, "apply_canceled") or {}
    if stop.get("rules_version") == now and stop.get("n_items") == n:
        return None  # a run an admin canceled, nothing changed since: left canceled
    err = (store.get_value(pid, "apply_status") or {}).get("error")
    if (err and time.time() < retry_at(err)  # it would fail alike; its error is shown
            and not _module_changed_since(store, pid, err)):
        return None
    r = store.r
    for recal in (True, False):  # a run waiting to start reads everything when it does
        if waiting_job(r, r.get(_pending_apply_key(pid, recal))) is not None:
            return None
    running = apply_covering(r, store, pid)  # planning now, or planned every item
    if running is not None:
        version = Job.fetch(running, connection=r).get_meta(refresh=False).get("L_version")
        if version is None or int(store.apply_plan(pid, int(version)).get(
                "rules_version") or 0) >= now:
            return None  # ... and every rule saved so far
    return "; ".join(why)


def _module_changed_since(store: RedisStore, pid: str, err: dict[str, Any]) -> bool:
    """Whether the project's LF module, as this machine would import it, is another
    than when the run failed (``err``): then the run is asked for again at once, not
    at :func:`~loop.service.recalibration.retry_at` (new-user trial: a rule saved
    while the module had a syntax error was still not applied 90 s after the module
    was fixed). Compared by content (re-trial: a fixed copy put back with ``cp -p``
    kept an older time), by the file's time for a failure noted without it."""
    module = store.get_project(pid).get("lf_module")
    if not module:
        return False
    if err.get("module_version") is not None:
        return module_version(str(module)) not in (None, err["module_version"])
    path = module_file(str(module))
    try:
        return path is not None and os.path.getmtime(path) > float(err.get("at", 0))
    except OSError:
        return False


def recalibration_coming(store: RedisStore, pid: str) -> bool:
    """Whether a recalibration of ``pid`` runs, or a job that makes one exists: the
    automatic one (queued or scheduled), an apply run that recalibrates after it.
    Judged by the jobs, not by the note that one was asked for: that note is written
    before the job is enqueued, and a request killed between the two left it set
    with no job behind it (fault re-trial: the answer waited for the next one)."""
    if store.lock_holder_alive(pid, "recal"):
        return True
    r = store.r
    return (live_job(r, store.get_value(pid, "recal_auto_job"))
            or live_job(r, r.get(_pending_apply_key(pid, True)))
            or live_job(r, r.get(_running_apply_key(pid))))


def end_model_wanted(store: RedisStore, pid: str) -> str | None:
    """Why project ``pid``'s end model needs a retrain that no job covers, or None:
    the last retrain asked for (automatic, or an admin's ``recalibrate`` or
    ``train_end_model``) failed for good (service trial: its work horse was
    killed on each of its tries, and the end model, which labels the export and
    ranks the queue, missed the last answers until another answer came), and the
    end model was trained on another label model than the stored one. Not before
    :func:`~loop.service.recalibration.retry_at` of the failure: it would fail
    alike, and its error is on the dashboard. Not after an admin canceled it (status
    ``stopped``): as an apply run's, a cancel holds, and the next answer's
    recalibration asks for a retrain. (A label model fitted alone on purpose,
    ``fit_label_model``, asks for no retrain, so none is owed.)"""
    r = store.r
    jid = store.get_value(pid, END_MODEL_JOB)
    try:
        status = job_status(r, jid)["status"] if isinstance(jid, str) else None
    except (JobNotFound, NoSuchJobError):
        status = None  # ended long ago (a failed job's record is kept)
    if status != "failed":  # "stopped" is an admin's cancel, which holds (re-trial:
        return None         # a canceled retrain was asked for again 30 s later)
    lm = store.model_summary(pid, "label_model") or {}
    em = store.model_summary(pid, "end_model") or {}
    if lm.get("fitted_at") is None or em.get("lm_fitted_at") == lm["fitted_at"]:
        return None
    err = (store.get_value(pid, "end_model_status") or {}).get("error")
    if err and time.time() < retry_at(err):
        return None
    if (store.lock_holder_alive(pid, "end_model") or store.has_flag(pid, "end_model_check")
            or recalibration_coming(store, pid)):  # a recalibration asks for one
        return None
    return ("the last end-model retrain failed, and the end model knows "
            f"{em.get('n_gold', 'no')} gold labels, the label model {lm.get('n_gold')}")


def reconcile(connection: Any, queue: Any, settings: Settings | None = None) -> list[str]:
    """Ask for the work each project's stored state wants and no job covers (see the
    module docstring); returns the ids of the jobs asked for."""
    settings = settings or Settings.from_env()
    store = RedisStore(connection)
    recal = Recalibrator(store, enqueuer(queue, store),
                         RecalibrationPolicy.from_settings(settings), settings.queue_size)
    asked = []
    for project in store.list_projects():
        pid = project["id"]
        try:
            why = apply_wanted(store, pid)
            if why is not None:
                job = enqueue_apply(queue, store, pid, settings.chunk_size,
                                    settings.lf_chunk_timeout, settings.queue_size,
                                    auto=True)
                log.warning("project %s: %s and no run was asked for (a request cut "
                            "short?): apply run %s", pid, why, job.id)
                asked.append(str(job.id))
                continue
            since = store.since_recal(pid)
            if since > 0 and not recalibration_coming(store, pid):
                jid = recal.answer_arrived(pid, since)
                if jid is not None:
                    log.warning("project %s: %d answers since the last recalibration and "
                                "none asked for (a request cut short?): %s", pid, since, jid)
                    asked.append(jid)
            elif since == 0 and (why := end_model_wanted(store, pid)) is not None:
                store.clear_flag(pid, "end_model_pending")  # that run is gone
                jid = recal.request_end_model(pid)
                if jid is not None:
                    log.warning("project %s: %s and no retrain is coming (one that failed "
                                "for good?): %s", pid, why, jid)
                    asked.append(jid)
        except Exception:  # one project must not keep the others waiting
            log.exception("project %s: could not reconcile", pid)
    return asked
