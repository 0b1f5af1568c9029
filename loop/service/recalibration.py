"""When to recalibrate, and making sure it happens: the one owner of that decision.

:class:`RecalibrationPolicy` is the pure rule ("every N answers, or every S
seconds with a new answer, at most one per gap"). :class:`Recalibrator` applies
it for a project in Redis: it is told that an answer arrived, enqueues at most
one recalibration, runs it under an owned lock that frees itself if the worker
dies, and re-checks the rule when a run ends, so answers that arrived during a
run (or during a run that crashed) are never left without one.

Self-healing, by construction:

* the lock (``recal``, ``end_model``) has a 20 s TTL that the running job keeps
  extending; a killed worker's lock frees itself within 20 s;
* the "pending" flags last at most a minute: a job lost before it started is
  requested again by the next answer after that;
* ``since_recal`` (answers since the last recalibration) is only lowered by a run
  that succeeded, so a crashed run leaves the next answer due at once.
* answers that become due within ``min_gap`` of the last request schedule one run
  for the end of the gap (RQ's scheduler), so a burst that ends just after a run
  is recalibrated without waiting for more answers.
* with a time rule (``seconds``), an answer that is not yet due schedules one run
  for when it will be: answers that stop short of ``every`` are taken in within
  ``seconds`` even if no further answer comes to check the clock.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from loop.errors import NotReady
from loop.service import models
from loop.service.settings import Settings
from loop.storage import KeepAlive, RedisStore
from loop.storage.coordination import job_token

log = logging.getLogger(__name__)

#: TTL of the recalibration locks (seconds); extended every third of it while held.
LOCK_TIMEOUT = 20.0
#: Seconds from a canceled run (its lock freed) to the check that takes in what it
#: would have: time for its work horse to be stopped.
CANCELED_CHECK_DELAY = 2.0
#: TTL of the "a job is enqueued" flags (seconds).
PENDING_TTL = 60.0


#: The project's value naming the last job asked to retrain its end model (an
#: automatic retrain, or an admin's ``recalibrate`` / ``train_end_model``): the
#: reconciler retrains an end model whose last retrain failed for good
#: (:func:`loop.service.reconcile.end_model_wanted`).
END_MODEL_JOB = "end_model_job"
#: The run (its lock, and ``<run>_status``: its last success or failure) of each job
#: type that recalibrates: the label model and queue, or the end model.
RUN_OF_JOB = {"recalibrate": "recal", "train_end_model": "end_model"}


@dataclass(frozen=True)
class RecalibrationPolicy:
    """When answers make a recalibration due.

    Parameters
    ----------
    every
        After this many answers since the last one (0: never by count).
    seconds
        After this many seconds since the last one, with at least one new
        answer (0: never by time).
    min_gap
        Seconds between two automatic recalibrations of a project, at least.

    >>> RecalibrationPolicy(every=10).due(since=10, seconds_since_last=None)
    True
    >>> RecalibrationPolicy(every=10, seconds=60).due(since=3, seconds_since_last=61.0)
    True
    """

    every: int = 10
    seconds: float = 0.0
    min_gap: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RecalibrationPolicy:
        """The policy ``LOOP_RECALIBRATE_EVERY`` / ``_SECONDS`` / ``_MIN_SECONDS`` set."""
        return cls(settings.recalibrate_every, settings.recalibrate_seconds,
                   settings.recalibrate_min_seconds)

    def due_by_count(self, since: int) -> bool:
        return self.every > 0 and since >= self.every

    def needs_clock(self, since: int) -> bool:
        """Whether :meth:`due` needs the time since the last recalibration."""
        return self.seconds > 0 and since > 0 and not self.due_by_count(since)

    def due(self, since: int, seconds_since_last: float | None) -> bool:
        if since <= 0:
            return False
        if self.due_by_count(since):
            return True
        return self.seconds > 0 and (seconds_since_last is None
                                     or seconds_since_last >= self.seconds)


def _steps(progress: models.Progress | None, before: int, total: int
           ) -> models.Progress | None:
    """``progress`` for one part of a job of ``total`` steps, ``before`` of them done
    by the parts before it: an admin's recalibration reported its fast path's 2 of 2
    steps, 100%, and then trained the end model for as long again (new-user trial)."""
    if progress is None:
        return None
    return lambda done, _total: progress(before + done, total)


class Recalibrator:
    """Decide, enqueue and run a project's recalibrations (see the module doc).

    ``enqueue(func, pid, *args, meta=...)`` enqueues an RQ job by its name in
    :mod:`loop.service.tasks` and returns its id.
    """

    def __init__(self, store: RedisStore, enqueue: Callable[..., str],
                 policy: RecalibrationPolicy, queue_size: int, owner: str | None = None,
                 job_id: str | None = None,
                 apply: Callable[[str], str] | None = None) -> None:
        self.store = store
        self.enqueue = enqueue
        self.policy = policy
        self.queue_size = queue_size
        #: The worker running this (its liveness sweep frees our locks if it dies).
        self.owner = owner
        #: The job running this: a lock an earlier run of it left is ours to take.
        self.job_id = job_id
        #: ``apply(pid)`` enqueues an apply-LFs run followed by a recalibration
        #: (returns its job id): what a run does when items came without LF votes.
        self.apply = apply

    # -- deciding ------------------------------------------------------------------------
    def answer_arrived(self, pid: str, since: int) -> str | None:
        """An answer was stored (``since`` answers now since the last recalibration):
        enqueue a recalibration if one is due; returns its job id."""
        last = None
        if self.policy.needs_clock(since):
            at = self.store.get_value(pid, "last_recalibrated_at")
            last = None if at is None else time.time() - float(at)
        if not self.policy.due(since, last):
            if last is not None:  # due by time later: make sure it runs then
                return self._schedule_when_due(pid, self.policy.seconds - last)
            return None
        if not self.store.L_meta(pid):
            # no LF applied yet (a rules-only project before its first rule): there
            # is nothing to refit, and the apply that comes recalibrates with every
            # answer given by then
            return None
        return self.request(pid)

    def request(self, pid: str, *, after_run: bool = False) -> str | None:
        """Enqueue an automatic recalibration unless one is running or enqueued.
        Within ``min_gap`` s of the last request it is scheduled for the end of
        the gap instead (one scheduled run at a time), so answers that arrive just
        after a run are never left waiting for more answers that may not come.
        ``after_run``: asked by a run that just ended (its own lock still looks
        held)."""
        s = self.store
        if not after_run and s.lock_holder_alive(pid, "recal", LOCK_TIMEOUT):
            # the running one re-checks the policy when it ends; a check once its lock
            # would have run out covers a run that never ends (see run()). The answers
            # wait from now: should that run be frozen, the dashboard's warning counts
            # from now (operator's trial: from the check, 22 s late)
            s.mark_recal_requested(pid, time.time())
            self._schedule_when_due(pid, LOCK_TIMEOUT + 2.0)
            return None
        if s.has_flag(pid, "recal_pending"):
            return None  # one is enqueued and not started: it will see these answers
        if self.policy.min_gap > 0 and not s.set_flag(pid, "recal_recent",
                                                      self.policy.min_gap):
            delay = max(0.05, s.flag_ttl(pid, "recal_recent"))
            # One scheduled run per gap. Its flag outlives the delay by a lock
            # timeout: if the scheduler is later than that (its worker died), the
            # next answer schedules another.
            if not s.set_flag(pid, "recal_scheduled", delay + LOCK_TIMEOUT):
                return None
            jid = self._enqueue_auto(pid, delay)
            log.info("project %s: recalibration %s scheduled in %.1f s", pid, jid, delay)
            return jid
        if not s.set_flag(pid, "recal_pending", PENDING_TTL):
            return None
        jid = self._enqueue_auto(pid)
        log.info("project %s: recalibration %s enqueued", pid, jid)
        return jid

    def _enqueue_auto(self, pid: str, delay: float = 0.0) -> str:
        """Enqueue an automatic recalibration job (``delay`` s from now, if any),
        noted first as asked for to run then (a run that ends first clears the note;
        if no worker runs it then, the dashboard says so).

        One that waits in the queue for a worker takes in every answer given until
        it starts: while it waits, it is returned instead of a second (operator's
        trial: behind a backlog the flags ran out and 32 of one project's runs
        queued up, ahead of another project's jobs)."""
        self.store.mark_recal_requested(pid, time.time() + delay)
        waiting = self._waiting_auto(pid)
        if waiting is not None:
            return waiting
        args = ("recalibrate", pid, self.queue_size, False, True, asdict(self.policy), True)
        meta = {"type": "recalibrate", "project": pid, "auto": True}
        if delay > 0:
            jid = self.enqueue(*args, meta=meta, delay=max(0.05, delay))
        else:
            jid = self.enqueue(*args, meta=meta)
        self.store.set_value(pid, "recal_auto_job", jid)
        return jid

    def _waiting_auto(self, pid: str) -> str | None:
        """The last automatic recalibration, if it is queued and not yet started."""
        from loop.service.jobs import waiting_job

        jid = self.store.get_value(pid, "recal_auto_job")
        job = waiting_job(self.store.r, jid) if isinstance(jid, str) else None
        return None if job is None else str(job.id)

    def _schedule_when_due(self, pid: str, delay: float, renote: bool = False) -> str | None:
        """One automatic recalibration ``delay`` seconds from now, when the time rule
        makes the answers so far due. One at a time: until it is due, the answers
        that come are taken in by it; after, the next answer schedules the next (an
        extra run, when the scheduler is late, finds nothing changed and skips)."""
        s = self.store
        if not s.set_flag(pid, "recal_when_due", delay):
            # one is scheduled; ``renote`` (a run that just ended and cleared the
            # note): noted again for when it is due, so the banner covers it
            left = s.flag_ttl(pid, "recal_when_due") if renote else 0.0
            if left > 0:
                s.mark_recal_requested(pid, time.time() + left)
            return None
        if not s.L_meta(pid):  # nothing to refit yet (see answer_arrived)
            s.clear_flag(pid, "recal_when_due")
            return None
        jid = self._enqueue_auto(pid, delay)
        log.info("project %s: recalibration %s scheduled in %.1f s, when the answers "
                 "so far are due", pid, jid, delay)
        return jid

    def request_end_model(self, pid: str, point_id: str | None = None) -> str | None:
        """Enqueue an end-model retrain unless one is enqueued already."""
        if not self.store.set_flag(pid, "end_model_pending", PENDING_TTL):
            return None
        jid = self.enqueue("retrain_end_model", pid, self.queue_size, point_id,
                           meta={"type": "train_end_model", "project": pid, "auto": True})
        self.store.set_value(pid, END_MODEL_JOB, jid)  # for the reconciler
        return jid

    # -- running (inside a job) ------------------------------------------------------------
    def run(self, pid: str, *, full: bool = False, end_model: bool = True,
            progress: models.Progress | None = None, auto: bool = False) -> dict[str, Any]:
        """Recalibrate: the fast path, then the end model (inline when ``full``, an
        admin's request, which waits for a running one; else its own job).

        A run that finds another one running returns at once: the running one
        re-checks the policy when it ends. An ``auto`` run (one the policy asked
        for) also returns when nothing changed since the label model was fitted.
        Items uploaded since the LFs were last applied have no votes: the run asks
        for an apply run, which recalibrates after it, and returns.
        """
        s = self.store
        if (gave_way := self._give_way_to_apply(pid)) is not None:
            return gave_way
        lock = s.lock(pid, "recal", LOCK_TIMEOUT)
        if not full:
            s.clear_flag(pid, "recal_pending")
            s.clear_flag(pid, "recal_scheduled")
            if not self._acquire(lock, pid, "recal"):
                # The holder re-checks when it ends. Should it never end (its work
                # horse killed, or the job canceled, while the worker lives on), its
                # lock runs out within LOCK_TIMEOUT: a run then takes in what it left
                # (fault trial: the answers stayed out until another answer came).
                self._schedule_when_due(pid, LOCK_TIMEOUT + 2.0)
                return {"skipped": True, "reason": "another recalibration is running; "
                        "it re-checks for new answers when it ends"}
            if auto and self._models_current(pid):
                # asked for while another ran (a pause, a burst): that one took it all in.
                # What was asked for is met: the dashboard said "waiting for a worker"
                # a minute after such a run (a canceled run's check, say) with none owed
                s.clear_recal_requested(pid, due_by=time.time())
                lock.release()
                return {"skipped": True, "reason": "nothing changed since the last "
                        "recalibration"}
        elif not (self._take(lock, pid, "recal")
                  or lock.acquire(blocking=True, blocking_timeout=1800, token=self._token())):
            raise TimeoutError(f"project {pid}: another recalibration held the lock 30 min")
        try:
            with KeepAlive(lock, self.owner):
                since = s.since_recal(pid)
                steps = 2 + models.END_MODEL_STEPS if full else 2
                out = models.recalibrate(s, pid, self.queue_size,
                                         progress=_steps(progress, 0, steps),
                                         fence=lock.owned)
                if not s.consume_since_recal(pid, since, lock=lock):
                    raise models.Superseded(f"project {pid}: this recalibration lost its "
                                            "lock at its end; the run that took over counts "
                                            "its answers")
                s.set_value(pid, "recal_status", {"ok_at": time.time(), "error": None})
                s.clear_recal_requested(pid)
        except models.Superseded as exc:
            # the run that took over consumed these answers; any left are re-checked
            log.warning("%s", exc)
            self._recheck(pid)
            return {"skipped": True, "reason": str(exc)}
        except Exception as exc:
            # items that came while it ran, without LF votes: the apply run takes over
            if isinstance(exc, NotReady) and (gave_way := self._give_way_to_apply(pid)):
                return gave_way
            record_failure(s, pid, "recal_status", exc)
            raise
        if full:
            em = self.run_end_model(pid, point_id=out["id"], wait=True,
                                    progress=_steps(progress, 2, 2 + models.END_MODEL_STEPS))
            if em.get("skipped"):  # the label model was fitted: this run was not skipped
                out["end_model_skipped"] = em["reason"]
            else:
                out.update(em)
        elif end_model:
            self.request_end_model(pid, out["id"])
        self._recheck(pid)  # answers that came in during this run
        return out

    def _models_current(self, pid: str) -> bool:
        """Whether the label model was fitted on the project's state as it is now
        (no answer, upload or apply since)."""
        fitted = (self.store.model_summary(pid, "label_model") or {}).get("state_version")
        return fitted is not None and fitted == self.store.state_version(pid)

    def _give_way_to_apply(self, pid: str) -> dict[str, Any] | None:
        """If items were uploaded since the LFs were applied: ask for the apply run
        (it recalibrates after it) and return this run's skip; else None. Checked
        when a run starts and when one fails for want of those votes (items that
        came while it ran: the fault trial saw such runs fail)."""
        if self.apply is None or not (n := self._unapplied(pid)):
            return None
        failed = (self.store.get_value(pid, "apply_status") or {}).get("error")
        run = self.apply(pid)
        reason = (f"{n:,} items have no LF votes yet (uploaded since the LFs were "
                  f"applied): apply run {run} applies them and then recalibrates")
        if failed is not None:
            # Operator's trial: with the LF module gone every apply failed, and each
            # recalibration was a quiet skip while 25 answers stayed out of the models.
            reason = (f"{n:,} items have no LF votes yet: the last apply run failed "
                      f"({failed['message']}); apply run {run} tries again, then "
                      "recalibrates")
            record_failure(self.store, pid, "recal_status", NotReady(reason))
        return {"skipped": True, "reason": reason}

    def _unapplied(self, pid: str) -> int:
        """How many items the applied LFs have not seen (0 when nothing was applied
        yet: the first apply is the user's to start)."""
        seen = self.store.L_meta(pid).get("n_items")
        return 0 if seen is None else max(0, self.store.n_items(pid) - int(seen))

    def _recheck(self, pid: str) -> None:
        """A run ends: ask for the next one if the answers since are due already,
        else (with a time rule) schedule it for when they will be. An answer that
        came during the run found it running and left them to this check."""
        since = self.store.since_recal(pid)
        if self.policy.due(since, 0.0 if self.policy.seconds else None):
            self.request(pid, after_run=True)
        elif since > 0 and self.policy.seconds > 0:
            self._schedule_when_due(pid, self.policy.seconds, renote=True)

    def _token(self) -> str | None:
        """The token this run's locks are taken with: it names the job (a random
        one outside a job)."""
        return job_token(self.job_id)

    def _take(self, lock: Any, pid: str, name: str) -> bool:
        """Take ``lock`` now if it is free or an earlier run of this job holds it
        (that run ended without releasing it: its work horse was killed)."""
        if lock.acquire(blocking=False, token=self._token()):
            return True
        if self.job_id and self.store.free_lock_of_job(pid, name, self.job_id):
            log.warning("project %s: the %s lock was held by an earlier run of job %s, "
                        "which ended; taking over", pid, name, self.job_id)
            return bool(lock.acquire(blocking=False, token=self._token()))
        return False

    def _acquire(self, lock: Any, pid: str, name: str) -> bool:
        """Take ``lock`` now (see :meth:`_take`); if its holder is dead (it stopped
        extending it), wait the few seconds until it expires and take it then.
        False while a live holder has it."""
        if self._take(lock, pid, name):
            return True
        if self.store.lock_holder_alive(pid, name, LOCK_TIMEOUT):
            return False
        log.warning("project %s: the %s lock's holder died; taking over", pid, name)
        return bool(lock.acquire(blocking=True, blocking_timeout=LOCK_TIMEOUT,
                                 token=self._token()))

    def _end_model_owed(self, pid: str, delay: float = LOCK_TIMEOUT + 2.0) -> None:
        """A retrain is owed: the running one retrains once more when it ends; a check
        ``delay`` s from now (by default once its lock would have run out) retrains
        if it never ended."""
        s = self.store
        s.set_flag(pid, "end_model_again", PENDING_TTL)
        if s.set_flag(pid, "end_model_check", delay):
            self.enqueue("retrain_end_model", pid, self.queue_size, None, False, True,
                         meta={"type": "train_end_model", "project": pid, "auto": True},
                         delay=delay)

    def canceled(self, pid: str, job_type: str | None, job_id: str | None = None) -> None:
        """A recalibration or end-model retrain was canceled (a running one's work
        horse is being stopped): what it would have taken in still reaches the
        models, by a check a moment from now. The lock the canceled run held is
        freed; if its token does not name that job (taken by an older version),
        the check waits until the lock would have run out (fault trial: one answer whose run
        was canceled stayed out with nothing to retry). A canceled apply run meets
        the request it carried when the models are current."""
        if job_type == "apply_lfs":
            # an apply run that was to recalibrate after it: with the models current,
            # nothing is owed (operator's trial: "a recalibration has been waiting",
            # with workers idle, until the next answer)
            if self._models_current(pid):
                self.store.clear_recal_requested(pid, due_by=time.time())
            return
        name = RUN_OF_JOB.get(job_type or "")
        if name is None:
            return
        freed = bool(job_id) and self.store.free_lock_of_job(pid, name, str(job_id))
        soon = freed or not self.store.is_locked(pid, name)
        delay = CANCELED_CHECK_DELAY if soon else LOCK_TIMEOUT + 2.0
        if name == "recal" and soon:
            # not _schedule_when_due: a run the time rule scheduled may be most of a
            # minute away (fault trial: the answers came in 38-53 s after the cancel)
            self._enqueue_auto(pid, delay)
        elif name == "recal":
            self._schedule_when_due(pid, delay)
        else:
            self.store.clear_flag(pid, "end_model_pending")
            self._end_model_owed(pid, delay)

    def run_end_model(self, pid: str, *, point_id: str | None = None, wait: bool = False,
                      progress: models.Progress | None = None,
                      again_only: bool = False) -> dict[str, Any]:
        """Retrain the end model and re-rank; at most one per project at a time. If
        the label model was refit while it trained, it asks for one more run.

        A retrain asked for while another runs is owed by that one when it ends;
        should it never end (its work horse killed), a check once its lock has run
        out (``again_only``) retrains if that is still owed."""
        s = self.store
        if again_only and not s.has_flag(pid, "end_model_again"):
            return {"skipped": True, "reason": "the retrain that was running ended and "
                    "took in what was asked for meanwhile"}
        lock = s.lock(pid, "end_model", LOCK_TIMEOUT)
        if not wait:
            s.clear_flag(pid, "end_model_pending")
        got = ((self._take(lock, pid, "end_model")
                or lock.acquire(blocking=True, blocking_timeout=1800,
                                token=self._token())) if wait
               else self._acquire(lock, pid, "end_model"))
        if not got:
            if wait:
                raise TimeoutError(f"project {pid}: another end-model retrain held the lock")
            # The running retrain may have read the label model before this run was
            # asked for: ask again when it ends (the flag is at most a minute old),
            # and check once its lock would have run out, should it never end.
            self._end_model_owed(pid)
            return {"skipped": True, "reason": "another end-model retrain is running; "
                    "it runs once more when it ends"}
        if again_only:
            s.clear_flag(pid, "end_model_again")  # this is the retrain that was owed
        fitted = (s.model_summary(pid, "label_model") or {}).get("fitted_at")
        try:
            with KeepAlive(lock, self.owner):
                out = models.retrain_end_model(s, pid, self.queue_size, point_id=point_id,
                                               progress=progress, fence=lock.owned)
                s.set_value(pid, "end_model_status", {"ok_at": time.time(), "error": None})
        except models.Superseded as exc:
            log.warning("%s", exc)
            if s.is_locked(pid, "end_model"):
                return {"skipped": True, "reason": f"{exc}; the retrain that holds it "
                        "writes its own end model"}
            # Nobody took over (the lock ran out while this run was frozen): its
            # answers would reach no end model until the next recalibration.
            self.request_end_model(pid, point_id)
            return {"skipped": True, "reason": f"{exc}; none does, so a fresh retrain "
                    "was asked for"}
        except Exception as exc:
            # items that came while it ran, without LF votes: the apply run takes over
            if isinstance(exc, NotReady) and (gave_way := self._give_way_to_apply(pid)):
                return gave_way
            if isinstance(exc, models.LabelModelBehind):  # operator's trial: a retrain
                self.request(pid)  # right after an upload's merge was a failed job
                return {"skipped": True, "reason": str(exc)}
            if isinstance(exc, models.NothingToLearn):  # not a fault: the next answer
                return {"skipped": True, "reason": str(exc)}  # or rule asks again
            record_failure(s, pid, "end_model_status", exc)
            raise
        newer = (s.model_summary(pid, "label_model") or {}).get("fitted_at") != fitted
        again = s.has_flag(pid, "end_model_again")
        if newer or again:
            s.clear_flag(pid, "end_model_again")
            self.request_end_model(pid)
        return out


#: Seconds the service waits after a run failed before it asks for it again by
#: itself (:mod:`loop.service.reconcile`); doubled after each failure in a row, up
#: to :data:`MAX_AFTER_FAILURE`.
AFTER_FAILURE = 600.0
MAX_AFTER_FAILURE = 6 * 3600.0


def retry_at(error: dict[str, Any]) -> float:
    """When the service asks again by itself for a run that failed with ``error``
    (kept by :func:`record_failure`): 10 minutes after one failure, twice as long
    after each more in a row, 6 hours at most (operator's soak: a retrain that
    failed alike every time was retried every 10 minutes for good, each a full fit)."""
    n = max(1, int(error.get("n_failures", 1)))
    return float(error.get("at", 0)) + min(AFTER_FAILURE * 2.0 ** (n - 1), MAX_AFTER_FAILURE)


def record_failure(store: RedisStore, pid: str, name: str, exc: BaseException) -> None:
    """Keep the last failure where the dashboard and ``/metrics`` show it (or, for an
    apply run, where a recalibration waiting for it finds it), and how many runs in
    a row failed (a run that ends well clears it)."""
    prev = store.get_value(pid, name) or {}
    before = prev.get("error") or {}
    error = {"at": time.time(), "message": f"{type(exc).__name__}: {exc}"[:500],
             "traceback": "".join(traceback.format_exception(exc))[-4000:],
             "n_failures": int(before.get("n_failures", 1 if before else 0)) + 1}
    module = store.get_project(pid).get("lf_module") if name == "apply_status" else None
    if module:  # a run that failed is asked for again once the module is another
        from loop.service.lf_modules import module_version

        error["module_version"] = module_version(str(module))
    store.set_value(pid, name, {"ok_at": prev.get("ok_at"), "error": error})
    log.error("project %s: %s failed", pid, name, exc_info=exc)
