"""Coordination between web processes and workers: locks and short-lived flags.

* ``<p>:lock:<name>`` redis-py :class:`~redis.lock.Lock` keys: owned (a random
  token; only the owner can release or extend), with a TTL that a holder extends
  while it is alive (:class:`KeepAlive`), so a killed holder frees it within
  ``timeout`` seconds;
* ``<p>:flag:<name>`` flags set with SET NX EX: each has a TTL of a minute or so
  (``recal_pending``, ``end_model_pending``, ``refill_pending``, ``recal_recent``),
  so none outlives the job that set it for long;
* ``<p>:recal_requested_at`` when the oldest automatic recalibration asked for since
  the last successful one was due (the dashboard warns when it waits too long);
* ``<p>:since_recal`` answers (and undone or changed ones) since the last successful
  recalibration began (the answer, undo and relabel scripts increment it; a
  recalibration subtracts what it consumed only when it succeeds, so the answers
  of a crashed one still count).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from loop.storage.base import StoreBase

log = logging.getLogger(__name__)

#: Flags last at most twice this (seconds).
MAX_FLAG_TTL = 60

#: SET KEYS[1] to ARGV[1] unless it holds a smaller number already.
_SET_MIN = ("local v = redis.call('GET', KEYS[1]) "
            "if (not v) or tonumber(ARGV[1]) < tonumber(v) then "
            "redis.call('SET', KEYS[1], ARGV[1]) end return 0")
#: Seconds an apply run's stop note is kept (as long as its plan).
RUN_STOP_TTL = 7 * 86400

_DEL_IF_AT_MOST = ("local v = redis.call('GET', KEYS[1]) "
                   "if v and tonumber(v) <= tonumber(ARGV[1]) then "
                   "return redis.call('DEL', KEYS[1]) end return 0")


class CoordinationMixin(StoreBase):
    """Owned locks with a TTL, flags, the answers-since-recalibration counter."""

    def set_flag(self, pid: str, name: str, ttl: float) -> bool:
        """Set a flag unless set (SET NX PX, TTL capped at two minutes); True if set now."""
        ttl_ms = max(1, int(1000 * min(float(ttl), 2 * MAX_FLAG_TTL)))
        return bool(self.r.set(self._k(pid, "flag", name), "1", nx=True, px=ttl_ms))

    def clear_flag(self, pid: str, name: str) -> None:
        self.r.delete(self._k(pid, "flag", name))

    def shorten_flag(self, pid: str, name: str, ttl: float) -> None:
        """Let flag ``name`` (if set) expire ``ttl`` seconds from now."""
        self.r.pexpire(self._k(pid, "flag", name), max(1, int(1000 * float(ttl))))

    def flag_ttl(self, pid: str, name: str) -> float:
        """Seconds until flag ``name`` expires (0 if not set)."""
        return max(0.0, int(self.r.pttl(self._k(pid, "flag", name))) / 1000)

    def has_flag(self, pid: str, name: str) -> bool:
        return bool(self.r.exists(self._k(pid, "flag", name)))

    def stop_run(self, pid: str, run_id: str, reason: str) -> None:
        """Note that apply run ``run_id`` was told to stop, for its plan, units and
        merge to read (a key of its own: the job's meta, where the reason is also
        written, is saved whole by the running job and can lose it)."""
        self.r.set(self._k(pid, "run_stopped", run_id), reason, ex=RUN_STOP_TTL)

    def run_stop_reason(self, pid: str, run_id: str | None) -> str | None:
        """Why apply run ``run_id`` was told to stop, or None."""
        if not run_id:
            return None
        v = self.r.get(self._k(pid, "run_stopped", run_id))
        return None if v is None else v.decode() if isinstance(v, bytes) else str(v)

    def lock(self, pid: str, name: str, timeout: float = 20.0) -> Any:
        """An owned lock ``name`` of project ``pid`` (not yet acquired)."""
        return self.r.lock(self._k(pid, "lock", name), timeout=timeout, thread_local=False)

    def is_locked(self, pid: str, name: str) -> bool:
        return bool(self.r.exists(self._k(pid, "lock", name)))

    def lock_holder_alive(self, pid: str, name: str, timeout: float = 20.0) -> bool:
        """Whether lock ``name`` is held by a live holder: :class:`KeepAlive` extends
        it to ``timeout`` every ``timeout / 3`` s, so a TTL that ran down further
        than that (with 3 s of slack) means the holder stopped extending it
        (killed or frozen): it will expire on its own within that TTL."""
        ttl_ms = int(self.r.pttl(self._k(pid, "lock", name)))
        if ttl_ms == -2:  # not held
            return False
        return ttl_ms < 0 or ttl_ms >= 1000 * (timeout * 2 / 3 - 3)

    def mark_recal_requested(self, pid: str, at: float) -> None:
        """Note that a recalibration was asked for (to run at ``at``, now or later),
        unless one asked for earlier is still outstanding: the earliest is what
        waits."""
        self.r.eval(_SET_MIN, 1, self._k(pid, "recal_requested_at"), repr(float(at)))

    def clear_recal_requested(self, pid: str, due_by: float | None = None) -> None:
        """A recalibration succeeded: no request is outstanding. With ``due_by``
        (a run found the models current): only a request due by then is met; one
        for later (a run scheduled by the time rule) still waits."""
        key = self._k(pid, "recal_requested_at")
        if due_by is None:
            self.r.delete(key)
        else:
            self.r.eval(_DEL_IF_AT_MOST, 1, key, repr(float(due_by)))

    def recal_requested_at(self, pid: str) -> float | None:
        """When the oldest recalibration asked for since the last success was due."""
        v = self.r.get(self._k(pid, "recal_requested_at"))
        return None if v is None else float(v)

    def since_recal(self, pid: str) -> int:
        return int(self.r.get(self._k(pid, "since_recal")) or 0)

    def consume_since_recal(self, pid: str, n: int, lock: Any = None) -> bool:
        """Subtract the ``n`` answers a successful recalibration took in; with
        ``lock``, only while that lock is still held (a run paused past it has had
        its answers taken in by the run that took over). True if subtracted."""
        if n <= 0:
            return True
        key = self._k(pid, "since_recal")
        if lock is None:
            self.r.decrby(key, n)
            return True
        from redis.exceptions import WatchError

        with self.r.pipeline(transaction=True) as p:
            try:
                p.watch(lock.name)
                if p.get(lock.name) != lock.local.token:
                    p.unwatch()
                    return False
                p.multi()
                p.decrby(key, n)
                p.execute()
                return True
            except WatchError:  # the lock changed hands meanwhile
                return False

    def free_lock_of_job(self, pid: str, name: str, job_id: str) -> bool:
        """Free lock ``name`` if a run of job ``job_id`` holds it (its token is
        :func:`job_token`'s); True if freed. For a run of that job that has ended
        without releasing it: RQ runs a job again only after its run ended (its work
        horse killed, the job stopped or timed out, or its worker found dead), and a
        canceled run's horse is being killed. Such a holder never releases the lock,
        which would keep the next run out until its TTL ran out; one merely frozen
        that resumes finds the lock gone and writes nothing (its writes are fenced
        by the lock)."""
        return bool(self.r.eval(_FREE_IF_JOB, 2, self._k(pid, "lock", name),
                                LOCK_OWNERS_KEY, f"{job_id}:"))

    # -- requests sent with an Idempotency-Key (loop.web.idempotency) -------------------
    @staticmethod
    def _request_key(scope: str, key: str) -> str:
        return f"loop:idem:{scope}:{key}"

    def claim_request(self, scope: str, key: str, fingerprint: str,
                      ttl: float) -> dict[str, Any] | None:
        """Mark request ``key`` of caller ``scope`` (hashes) as running for up to
        ``ttl`` seconds; None if it was not known, else its record as kept:
        ``{"fingerprint", "state": "running"}`` or, once answered,
        ``{"fingerprint", "state": "done", "status", "mimetype", "body"}``."""
        name = self._request_key(scope, key)
        mine = json.dumps({"fingerprint": fingerprint, "state": "running"})
        if self.r.set(name, mine, nx=True, px=max(1, int(ttl * 1000))):
            return None
        raw = self.r.get(name)
        if raw is None:  # expired just now: claim it again
            return self.claim_request(scope, key, fingerprint, ttl)
        return json.loads(raw)  # type: ignore[no-any-return]

    def answer_request(self, scope: str, key: str, record: dict[str, Any],
                       ttl: float) -> None:
        """Keep the answer of a claimed request for ``ttl`` seconds."""
        self.r.set(self._request_key(scope, key), json.dumps(record),
                   px=max(1, int(ttl * 1000)))

    def forget_request(self, scope: str, key: str) -> None:
        """Drop a claimed request (it failed: a retry with its key runs it again)."""
        self.r.delete(self._request_key(scope, key))


def job_token(job_id: str | None) -> str | None:
    """A lock token that names the job whose run takes the lock (None: a random one):
    set in the same command that takes the lock, so the job's next run can always
    tell it is its own."""
    import uuid

    return None if not job_id else f"{job_id}:{uuid.uuid4().hex}"


#: Hash: lock key -> JSON ``{"owner", "token"}`` of locks held by a named process
#: (a worker), so that one noticing the owner's death can free them at once.
LOCK_OWNERS_KEY = "loop:lock_owners"

#: Lua: unlist lock KEYS[1] from KEYS[2] (LOCK_OWNERS_KEY) if listed with token ``tok``.
_UNLIST_TOKEN = """
local raw = redis.call('HGET', KEYS[2], KEYS[1])
if raw and cjson.decode(raw)['token'] == tok then redis.call('HDEL', KEYS[2], KEYS[1]) end
"""

#: KEYS[1] a lock, KEYS[2] LOCK_OWNERS_KEY: if the lock's token starts with ARGV[1]
#: (a run of that job holds it), delete it and its listing.
_FREE_IF_JOB = """
local tok = redis.call('GET', KEYS[1])
if (not tok) or string.sub(tok, 1, string.len(ARGV[1])) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
""" + _UNLIST_TOKEN + "return 1"

#: KEYS[1] a lock, KEYS[2] LOCK_OWNERS_KEY: unlist the lock if listed with token ARGV[1].
_UNLIST = "local tok = ARGV[1]\n" + _UNLIST_TOKEN + "return 0"


class KeepAlive:
    """Hold an acquired lock and extend its TTL every ``timeout / 3`` s until exit.

    If the process dies the extensions stop and the lock frees itself; if an
    extension fails (the lock expired, e.g. the process was paused), ``lost`` is set.
    ``owner``: a name under which the lock is listed in :data:`LOCK_OWNERS_KEY`
    while held (a worker's: its liveness sweep frees the locks of a dead worker).
    """

    def __init__(self, lock: Any, owner: str | None = None) -> None:
        self.lock = lock
        self.owner = owner
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="lock-keepalive")

    def _run(self) -> None:
        every = max(0.2, float(self.lock.timeout) / 3)
        while not self._stop.wait(every):
            try:
                self.lock.reacquire()
            except LockError:
                self.lost = True
                log.warning("lost lock %s while holding it", self.lock.name)
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                # Redis out of reach for a moment (operator's trial: a network cut
                # killed this thread, and the lock was never extended again once
                # Redis was back): try again; past its TTL the next try says lost
                log.warning("could not extend lock %s (%s: %s); trying again",
                            self.lock.name, type(exc).__name__, exc)

    def __enter__(self) -> KeepAlive:
        token = getattr(self.lock.local, "token", None)
        if self.owner and token is not None:
            self.lock.redis.hset(LOCK_OWNERS_KEY, self.lock.name, json.dumps(
                {"owner": self.owner,
                 "token": token.decode() if isinstance(token, bytes) else str(token)}))
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        token = getattr(self.lock.local, "token", None)
        if self.owner and token is not None:
            # unlisted only if still listed as ours (a run that took over lists itself)
            self.lock.redis.eval(_UNLIST, 2, self.lock.name, LOCK_OWNERS_KEY, token)
        try:
            self.lock.release()
        except LockError:  # expired or taken over: nothing of ours to release
            pass
