"""The RQ worker class of ``loop``: ``rq worker -w loop.service.worker.LoopWorker``.

RQ's default :class:`~rq.Worker` with these additions:

* **Preloaded**: the job code and its libraries (numpy, scikit-learn, the service)
  are imported once in the worker, so each forked work horse starts warm instead
  of importing them again per job.
* **Cheap forks**: the worker's objects are frozen out of the garbage collector
  before each fork, so a horse's collections do not touch (and copy) its memory.
* **A dead horse's record is kept**: the worker notes each run's start in the
  job's meta before it forks the horse (a horse killed at once is a run too); when
  a horse dies (killed, out of memory), RQ retries its job from the worker's copy
  fetched before the fork, so the meta the horse wrote (progress, an apply plan's
  units) is read back first.
* **Horses die with their worker**: a horse gets ``PR_SET_PDEATHSIG`` (Linux), so
  ``kill -9`` of a worker never leaves its job running unsupervised.
* **Abandoned jobs are handled within a minute**: every worker keeps a liveness
  key alive (``loop:alive:<name>``, TTL :attr:`LoopWorker.liveness_ttl`) from a
  thread, and one worker at a time sweeps RQ's started-job registries: a job
  whose worker's key expired is handed to RQ's own abandoned-job handling
  (retried while it has retries left, else failed with ``AbandonedJobError``).
  RQ alone notices only after its heartbeat TTL (job monitoring interval + 60 s,
  then up to 10 minutes for the next registry cleanup).
* **Jobs popped by a dying worker run anyway**: a worker killed while it waits in
  its blocking pop (BLMOVE) can still be handed a job by Redis, which then sits in
  RQ's intermediate list with nobody to start it; RQ would only fail it, minutes
  later. The same sweep puts such a job (still ``queued``, not started by anyone,
  stranded for :attr:`LoopWorker.stranded_after` seconds) back at the head of
  its queue. A worker killed alone leaves no such pop behind: its scheduler
  process, which stops seconds after it, closes its copies of the worker's
  sockets as it starts (a copy kept the dead worker's pop waiting in Redis).
* **The scheduler comes back within seconds**: RQ's scheduler (delayed jobs: a
  recalibration due at the end of the minimum gap) runs in one worker at a time,
  under a lock that outlives a killed holder by a minute, and RQ's other workers
  try to take it over only every 10 minutes. Here the sweep frees the lock of a
  scheduler whose worker's liveness key expired, and an idle worker without a
  scheduler looks every :attr:`LoopWorker.scheduler_check_every` seconds whether
  one is running, and starts one if not; a worker whose own scheduler process
  died (a Redis restart can raise in it) starts it again the same way.
* **A worker outlives a Redis outage during a job**: RQ quits the worker when
  Redis is unreachable as its job ends; here it waits for Redis and hands the job
  to RQ's abandoned-job handling (retried while it has retries left).
* **A job whose dependencies finished is started**: RQ moves it to its ready
  registry and then onto the queue under a WATCH of that registry, which every
  worker finishing a job at the same moment touches; the loser leaves it there
  for RQ's next registry cleanup, 10 minutes on (re-trial: one of two projects'
  apply runs applied at once stayed "deferred", its merge never started). Here
  the worker drains the registry again right after a job, and the sweep every
  few seconds.
* **A dead worker's project locks are freed**: the recalibration and end-model
  locks a job holds are listed with its worker's name (``loop:lock_owners``), and
  the sweep frees those of a dead worker, so the job's re-run does not wait for
  the lock's TTL (20 s after the last extension).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import JobStatus
from rq.registry import ReadyJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.utils import as_text, parse_composite_key

from loop.storage.base import FORMAT

log = logging.getLogger(__name__)

#: Set of worker names that keep a liveness key (only those are judged by it).
WORKERS_KEY = "loop:workers"
#: Seconds a beat waits on Redis before it gives up and tries again at the next one
#: (within a worker's liveness TTL of 12 s).
BEAT_SOCKET_TIMEOUT = 5.0


def miss_label(name: Any) -> str:
    """A worker as a job's ``lf_module_misses`` names it: with its machine (a
    worker's name alone is often a random id)."""
    return f"{name or '?'} on {socket.gethostname()}"


def alive_key(name: str) -> str:
    return f"loop:alive:{name}"


def is_dead(connection: Any, name: Any) -> bool:
    """Whether ``name`` is a ``LoopWorker`` whose liveness key expired (workers of
    other classes keep no key and are never judged dead here)."""
    return bool(name and connection.sismember(WORKERS_KEY, name)
                and not connection.exists(alive_key(as_text(name))))


def stop_older_workers(connection: Any) -> list[str]:
    """Tell each live worker of an older version to stop after its job (RQ's shutdown
    command); the names of those told now. A worker's liveness key holds the data
    format its version reads (:data:`~loop.storage.base.FORMAT`; "1" before it did): a
    worker left running on the old code while the new version started, which then
    marked the data as its own, goes on taking jobs (upgrade trial: it took the new
    version's apply-run jobs and failed them, TypeError); started again, it refuses
    the mark. Run at every beat: a command sent while that worker was cut off from
    Redis is lost. A worker that took the command while busy says so in its RQ record
    (``shutdown_requested_date``) and is not told again: to RQ a second shutdown
    command is a second Ctrl-C, a cold shutdown that kills the job it runs (re-trial:
    told again at the next beat, 2 s later, an old worker killed its 20 s job)."""
    from rq.command import send_shutdown_command

    older = _older_names(connection)
    with connection.pipeline(transaction=False) as p:
        for name in older:
            p.hexists(Worker.redis_worker_namespace_prefix + name, "shutdown_requested_date")
        stopping = p.execute() if older else []
    older = [n for n, s in zip(older, stopping, strict=True) if not s]
    for name in older:
        send_shutdown_command(connection, name)
    if new := [n for n in older if n not in _TOLD_TO_STOP]:  # logged once, told each beat
        _TOLD_TO_STOP.update(new)
        log.warning("told %d worker(s) of an older loop (data format below %d) to stop: "
                    "start them from this version: %s", len(new), FORMAT, ", ".join(new))
    return older


#: Workers :func:`stop_older_workers` logged it told to stop (in this process).
_TOLD_TO_STOP: set[str] = set()


def is_gone(connection: Any, name: Any) -> bool:
    """Whether ``name`` is a worker RQ no longer knows: it left its registry (its
    record, and its place among the LoopWorkers) and so cannot be running a job
    still "started" under its name. A cold shutdown (a second signal while it
    finished a job: compose's SIGTERM and a shutdown command, compose upgrade trial)
    kills the job's horse and leaves so, the job unhandled until RQ's own cleanup,
    minutes later."""
    return bool(name and not connection.exists(
        Worker.redis_worker_namespace_prefix + as_text(name)))


def alive_workers(connection: Any) -> int:
    """How many ``LoopWorker`` processes keep their liveness key (alive now)."""
    return sum(bool(connection.exists(alive_key(as_text(n))))
               for n in connection.smembers(WORKERS_KEY))


def older_workers(connection: Any) -> int:
    """How many of the live workers are of an older version (their liveness key
    holds a data format below this one's, see :func:`stop_older_workers`)."""
    return len(_older_names(connection))


def _older_names(connection: Any) -> list[str]:
    """The live workers whose liveness key holds a data format below this one's,
    sorted by name."""
    names = sorted(as_text(n) for n in connection.smembers(WORKERS_KEY))
    reads = connection.mget([alive_key(n) for n in names]) if names else []
    return [n for n, v in zip(names, reads, strict=True) if v is not None and int(v) < FORMAT]


def started_entries(connection: Any, queue: Any) -> list[str]:
    """The ``job_id:execution_id`` entries of ``queue``'s started-job registry."""
    return [as_text(e) for e in connection.zrange(StartedJobRegistry(queue=queue).key, 0, -1)]


def enqueue_ready(connection: Any, queues: list[Any]) -> list[str]:
    """Put on their queues the jobs RQ left in ``queues``' ready registries (their
    dependencies finished, but the enqueue lost a WATCH race); returns their ids."""
    done: list[str] = []
    for queue in queues:
        reg = ReadyJobRegistry(queue=queue)
        if connection.zcard(reg.key):
            done += [j.id for j in reg.cleanup()]
    if done:
        log.info("jobs whose dependencies had finished, enqueued: %s", done)
    return done


# Atomically: move entry ARGV[1] of the started-job registry KEYS[1] to KEYS[2] (score 0),
# if it is still there (one caller handles it).
_TAKE_ENTRY = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('EXPIRE', KEYS[2], 600)
return 1
"""


def _abandon(connection: Any, reg: Any, entries: list[str]) -> None:
    """Take ``entries`` out of the started-job registry ``reg`` and let RQ's cleanup
    handle their jobs as abandoned (retried while they have retries left), in a
    registry of their own: RQ's cleanup ends by removing every expired entry of the
    registry it cleans, and so it removed, unhandled, the entry another worker had
    just expired for its own cleanup (fault trial: Redis restarted while both workers
    ran units of an apply run; both handed their jobs back at once, one was retried
    and the other stayed "started" in no registry, the run stuck for good)."""
    import uuid

    own = StartedJobRegistry(queue=reg.get_queue())
    own.key = f"{reg.key}:abandoned:{uuid.uuid4().hex}"
    taken = [e for e in entries if connection.eval(_TAKE_ENTRY, 2, reg.key, own.key, e)]
    if taken:
        try:
            own.cleanup()
        finally:
            connection.delete(own.key)


# Atomically: a job a dead worker took and never started (still "queued") leaves the
# started-job registry (and RQ's intermediate list) for the head of its queue, once.
_HAND_BACK = """
if redis.call('HGET', KEYS[4], 'status') ~= 'queued' then return 0 end
if redis.call('ZREM', KEYS[3], ARGV[2]) == 0 then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"""


def sweep_abandoned(connection: Any, queues: list[Any]) -> list[str]:
    """Fail or re-queue (RQ's abandoned-job handling) the started jobs of
    ``LoopWorker`` workers whose liveness key expired, and of workers gone from
    RQ's registry (:func:`is_gone`); a job such a worker took but
    never started goes back to the head of its queue (RQ's handling passes over a
    job that is not "started"). Returns their ids."""
    from rq.job import Job

    found: list[str] = []
    for queue in queues:
        reg = StartedJobRegistry(queue=queue)
        dead = []
        for entry in started_entries(connection, queue):
            job_id, _ = parse_composite_key(entry)
            # a job whose worker died after it took the job and before its horse
            # started it has no worker in its own record, only in its execution's
            # (fault trial: such a unit of an apply run sat "queued" in the registry
            # until its timeout, 5 min 40 s)
            name = (connection.hget(f"rq:job:{job_id}", "worker_name")
                    or connection.hget(f"rq:execution:{entry}", "worker_name"))
            if not (is_dead(connection, name) or is_gone(connection, name)):
                continue
            if connection.eval(_HAND_BACK, 4, queue.key, queue.intermediate_queue_key,
                               reg.key, Job.key_for(job_id), job_id, entry):
                log.warning("job %s, taken by a worker that died before starting it, "
                            "queued again", job_id)
            else:
                dead.append(entry)
            found.append(job_id)
        if dead:
            _abandon(connection, reg, dead)
            log.warning("jobs of dead workers handed to RQ's abandoned-job handling: %s",
                        [parse_composite_key(e)[0] for e in dead])
    return found


# Atomically: a job still "queued" leaves the intermediate list for the head of
# its queue. A worker that starts it first sets it "started" in one transaction.
_REQUEUE = """
if redis.call('HGET', KEYS[3], 'status') ~= 'queued' then return 0 end
if redis.call('LREM', KEYS[2], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"""


def requeue_stranded(connection: Any, queues: list[Any], after: float) -> list[str]:
    """Put back at the head of its queue each job that has sat for ``after``
    seconds in RQ's intermediate list (popped, never started: its worker died
    between the pop and the start); returns their ids.

    A live worker starts a job milliseconds after popping it (it is then in the
    started-job registry, and ``started`` once its horse runs), so a job found
    there on two sweeps ``after`` seconds apart was popped by a dead worker.
    """
    from rq.job import Job

    moved: list[str] = []
    now = time.time()
    for queue in queues:
        started = {parse_composite_key(e)[0] for e in started_entries(connection, queue)}
        for raw in connection.lrange(queue.intermediate_queue_key, 0, -1):
            job_id = as_text(raw)
            if job_id in started:
                continue
            seen_key = f"loop:stranded:{job_id}"
            connection.set(seen_key, now, nx=True, ex=3600)
            first = float(connection.get(seen_key) or now)
            if now - first < after:
                continue
            if connection.eval(_REQUEUE, 3, queue.key, queue.intermediate_queue_key,
                               Job.key_for(job_id), job_id):
                moved.append(job_id)
            connection.delete(seen_key, queue.intermediate_queue.get_first_seen_key(job_id))
    if moved:
        log.warning("jobs popped by a worker that did not start them within %g s (it "
                    "died, or is frozen), queued again: %s", after, moved)
    return moved


def hand_back(connection: Any, queue: Any, job_id: str) -> bool:
    """A job whose run lost Redis midway, and is neither finished nor failed: hand
    it to RQ's abandoned-job handling (retried while it has retries left, else
    failed), as the sweep does for a dead worker's. Returns whether it was."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=connection).get_status(refresh=True)
    except NoSuchJobError:
        return False
    if status in ("finished", "failed", "stopped", "canceled"):
        return False
    reg = StartedJobRegistry(queue=queue)
    mine = [e for e in started_entries(connection, queue) if parse_composite_key(e)[0] == job_id]
    if not mine:
        return False
    _abandon(connection, reg, mine)
    log.warning("job %s handed to RQ's abandoned-job handling after Redis came back", job_id)
    return True


#: Hash: RQ scheduler name -> the name of the LoopWorker that started it.
SCHEDULERS_KEY = "loop:schedulers"


def free_dead_schedulers(connection: Any, queues: list[Any]) -> list[str]:
    """Free the scheduler locks held by schedulers of ``LoopWorker`` workers whose
    liveness key expired; returns the queue names whose lock was freed."""
    from rq.scheduler import RQScheduler

    freed = []
    for queue in queues:
        key = RQScheduler.get_locking_key(queue.name)
        holder = connection.get(key)
        if holder is None:
            continue
        if (is_dead(connection, connection.hget(SCHEDULERS_KEY, holder))
                and release_lock(connection, key, holder)):
            connection.hdel(SCHEDULERS_KEY, holder)
            freed.append(queue.name)
    if freed:
        log.warning("scheduler lock of a dead worker freed for queues %s", freed)
    return freed


def free_dead_locks(connection: Any) -> list[str]:
    """Free the project locks (recalibration, end model) held by ``LoopWorker``
    workers whose liveness key expired: a re-run of their job need not wait for the
    lock's TTL. Returns the freed lock keys."""
    import json

    from loop.storage.coordination import LOCK_OWNERS_KEY

    freed = []
    for key, raw in connection.hgetall(LOCK_OWNERS_KEY).items():
        rec = json.loads(raw)
        if not is_dead(connection, rec.get("owner")):
            continue
        if release_lock(connection, key, rec.get("token", "")):
            freed.append(as_text(key))
        connection.hdel(LOCK_OWNERS_KEY, key)
    if freed:
        log.warning("locks of a dead worker freed: %s", freed)
    return freed


def forget_dead_workers(connection: Any) -> list[str]:
    """Take out of :data:`WORKERS_KEY` the ``LoopWorker`` workers that died without
    stopping (kill -9, out of memory, a lost machine) once nothing can be theirs:
    their liveness key expired, RQ dropped their record (its TTL, minutes after their
    last heartbeat: by then the sweeps have handed back their jobs and freed their
    scheduler lock) and no lock is listed with their name; and out of
    :data:`SCHEDULERS_KEY` the schedulers of workers no longer among them. Only a
    worker's clean exit took its name out: each one killed left it for good, and
    every ``/healthz``, ``/metrics`` and beat read each name (soak trial: one more
    for each kill -9). A worker cut off that long adds itself again at its next
    beat. Returns the names taken out."""
    import json

    from loop.storage.coordination import LOCK_OWNERS_KEY

    names = sorted(as_text(n) for n in connection.smembers(WORKERS_KEY))
    owners = {json.loads(v).get("owner") for v in connection.hvals(LOCK_OWNERS_KEY)}
    with connection.pipeline(transaction=False) as p:
        for n in names:
            p.exists(alive_key(n), Worker.redis_worker_namespace_prefix + n)
        found = p.execute() if names else []
    gone = [n for n, f in zip(names, found, strict=True) if not f and n not in owners]
    if gone:
        connection.srem(WORKERS_KEY, *gone)
    kept = set(names) - set(gone)
    stale = [s for s, w in connection.hgetall(SCHEDULERS_KEY).items()
             if as_text(w) not in kept and not connection.exists(alive_key(as_text(w)))]
    if stale:
        connection.hdel(SCHEDULERS_KEY, *stale)
    return gone


#: Set by a worker to the id of the job whose run it noted (its horse inherits it).
START_NOTED_ENV = "LOOP_START_NOTED"


def note_start(job: Any) -> None:
    """Add this run's start to the job's meta (``starts``, the last 10): the job's
    record then says how many runs it took (``attempts``) and when the first began."""
    meta = job.get_meta(refresh=True)
    meta["starts"] = [*meta.get("starts", []), time.time()][-10:]
    job.save_meta()


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child process: signal ``sig`` when its parent dies (Linux), so that a
    ``kill -9`` of the parent leaves no orphan (a work horse taking jobs, a web
    worker holding the port)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the horse may outlive a killed worker
        pass


def close_inherited(pool: Any) -> None:
    """In a forked child: close its copies of the sockets of ``pool``, its parent's
    connections (the parent's stay open). A worker SIGKILLed in its blocking pop
    (BLMOVE) stays blocked in Redis while any copy of that socket is open, and
    Redis hands it the next job pushed, into RQ's intermediate list: the scheduler
    process, seconds in stopping after its worker's death, kept one (fault trial: a
    job enqueued right after ``kill -9`` of a worker sat stranded)."""
    if pool is None:
        return
    conns = [*getattr(pool, "_available_connections", ()),
             *getattr(pool, "_in_use_connections", ())]
    for conn in conns:
        try:
            conn.disconnect()  # redis-py: in a child, a close of its copy, no shutdown
        except Exception:  # a copy half set up at the fork: nothing of ours to close
            pass


class LoopScheduler(RQScheduler):
    """RQ's scheduler process, stopped (SIGTERM: it lets its locks go) when its
    worker dies: a worker killed with SIGKILL left it running, holding and renewing
    the lock, and each restart of the worker added one more (operator's trial: two
    orphans after three kills, gone only at the next Redis outage)."""

    def __init__(self, queues: Any, connection: Any, **kw: Any) -> None:
        super().__init__(queues, connection, **kw)
        self._worker_pool = connection.connection_pool  # closed in the forked process

    def start(self) -> Any:
        """Fork the scheduler process. Until it installs its own signal handlers
        (``work()``), a stop signal it receives marks it to stop at once: with the
        worker's handlers, which it inherits, a burst worker's SIGTERM, sent the
        moment it ended (no jobs), raised inside the child's first log line, which
        swallowed it, and the worker waited for that child for ever (CI: a burst
        worker hung 60 s, 1 run in 3)."""
        self._worker_pid = parent = os.getpid()
        before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

        def until_it_listens(signum: int, frame: Any) -> None:
            if os.getpid() != parent:  # the child, before its own handlers
                self._stop_requested = True
                return
            handler = before[signal.Signals(signum)]  # the worker's, as before
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(parent, signum)

        if threading.current_thread() is not threading.main_thread():
            return super().start()  # (handlers are set in the main thread only)
        for s in before:
            signal.signal(s, until_it_listens)
        try:
            return super().start()
        finally:
            for s, handler in before.items():  # the worker's own again (in the worker)
                signal.signal(s, handler)

    def work(self) -> None:
        die_with_parent(signal.SIGTERM)
        close_inherited(self._worker_pool)
        if os.getppid() != getattr(self, "_worker_pid", os.getppid()):
            return  # the worker died while this process started
        try:
            super().work()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Redis restarting (its disk full, killed): RQ printed three tracebacks
            # at every restart. This process stops, its locks expire, and the worker
            # starts a scheduler again once Redis answers.
            self.log.warning("scheduler: Redis went away (%s); it stops, and starts "
                             "again with Redis", exc)


class PromptCommandChannel:
    """An RQ worker whose command-channel thread reads for ``pubsub_sleep`` s at a
    time. RQ waits up to 60 s per read and unsubscribes at shutdown before it
    stops that thread; redis-py 8's ``stop()`` then joins it with no time limit
    while it waits out the read (for a subscription that is gone): a warm
    shutdown, and a burst worker's end, took up to 60 s whenever the thread was
    between reads (1 time in 4; a worker SIGTERMed in a test outlived its 30 s).
    Mixed in before RQ's worker class."""

    #: How long the thread reading the worker's command channel waits per read.
    pubsub_sleep = 1.0

    def subscribe(self: Any) -> None:
        # RQ's, with reads of pubsub_sleep seconds instead of 60
        self.log.info("Worker %s: subscribing to channel %s", self.name,
                      self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=self.pubsub_sleep, daemon=True,
            exception_handler=self._pubsub_exception_handler)


class LoopWorker(PromptCommandChannel, Worker):
    """See the module docstring."""

    #: Seconds after its last beat that a worker counts as dead.
    liveness_ttl = 12
    #: Seconds between beats (and between sweeps, by one worker at a time).
    beat_every = 3.0
    #: Seconds a popped job may wait unstarted before it counts as stranded.
    stranded_after = 6.0
    #: Seconds at most between an idle worker's looks for a running scheduler.
    scheduler_check_every = 5
    #: Seconds a worker that could not run a job for want of its LF module waits
    #: before its next (times its misses of that job, at most 10).
    step_aside = 2.0

    @property
    def dequeue_timeout(self) -> int:
        # an idle worker wakes this often (RQ: worker TTL - 15 s = 405 s) to see
        # whether a scheduler needs starting
        if getattr(self, "scheduler", None) is None:
            return int(super().dequeue_timeout)
        return min(int(super().dequeue_timeout), self.scheduler_check_every)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        if getattr(self, "_stop_requested", False):
            # told to stop mid-job: RQ stopped the scheduler already, and its
            # maintenance would start a new one, which may miss the stop signal
            # (the inherited handler ignores a second one within a second): the
            # worker then hung in its teardown, joining it
            return False
        return bool(super().should_run_maintenance_tasks) or self._scheduler_missing()

    def _scheduler_missing(self) -> bool:
        """This worker runs with a scheduler, its own is not running, and the lock
        of one of its queues is free or still its own scheduler's: a scheduler
        process that died under a live worker (a Redis restart raised in it) keeps
        its lock for a minute, and RQ's maintenance, which would take it back and
        start the process again, runs only every 10 minutes (operator's trial:
        delayed recalibrations waited 51-60 s)."""
        sched = getattr(self, "scheduler", None)
        if sched is None or self.last_cleaned_at is None:
            return False
        proc = getattr(sched, "_process", None)
        if proc is not None and proc.is_alive():
            return False
        holders = self.connection.mget([sched.get_locking_key(q.name) for q in self.queues])
        return any(h is None or as_text(h) == sched.name for h in holders)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        sched = getattr(self, "scheduler", None)
        proc = getattr(sched, "_process", None)
        if sched is not None and proc is not None and proc.is_alive():
            self.connection.hset(SCHEDULERS_KEY, sched.name, self.name)
        self._compact_aof()

    def _compact_aof(self) -> None:
        """Compact Redis's append-only file when it has grown to four times the data
        or more: after restarts Redis itself waits for it to double from its size at
        the start (:func:`loop.redis_server.compact_aof`; docker compose's Redis has
        no ``loop serve`` to compact it after each start)."""
        from loop.redis_server import compact_aof

        try:
            if compact_aof(self.connection, times_data=4.0):
                log.warning("compacting Redis's append-only file: it had grown to four "
                            "times the data or more")
        except redis.RedisError as exc:  # no permission (an external Redis), or gone
            log.debug("could not check Redis's append-only file: %s", exc)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        from loop.storage.base import NewerData, claim_format

        try:
            unchecked = claim_format(self.connection)
        except NewerData as exc:  # no job of this version may touch that data
            self.log.error("%s", exc)
            raise SystemExit(2) from None
        if unchecked:  # full, or cannot save: a later start checks it
            self.log.warning("%s", unchecked)
        preload()
        self._check_lf_modules()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True,
                                name="loop-liveness")
        self.connection.sadd(WORKERS_KEY, self.name)
        self._beat_once()
        beat.start()
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            stop.set()
            beat.join(timeout=5)
            with self.connection.pipeline() as p:
                p.delete(alive_key(self.name))
                p.srem(WORKERS_KEY, self.name)
                sched = getattr(self, "scheduler", None)
                if sched is not None:
                    p.hdel(SCHEDULERS_KEY, sched.name)
                p.execute()

    def _lf_modules(self, connection: Any) -> dict[str, list[str]]:
        """The projects' LF modules, each with the names of its projects."""
        from loop.storage import RedisStore

        wanted: dict[str, list[str]] = {}
        for p in RedisStore(connection).list_projects():
            if p.get("lf_module"):
                wanted.setdefault(str(p["lf_module"]), []).append(str(p.get("name") or p["id"]))
        return wanted

    def _check_lf_modules(self) -> None:
        """Log each project's LF module this worker's machine lacks (found without
        running it): its apply runs go to other workers, and an operator starting
        a worker on another machine learns here what to copy there. Note the
        versions it has (:func:`loop.service.lf_modules.note_versions`)."""
        from loop.service.lf_modules import note_versions

        try:
            wanted = self._lf_modules(self.connection)
            versions = note_versions(self.connection, self.name, sorted(wanted))
        except Exception:  # Redis not there yet: the jobs will say
            return
        self._noted_at = time.monotonic()
        for module, names in sorted(wanted.items()):
            if versions[module] is None:
                log.warning("this worker cannot find lf_module %r (projects: %s) in its "
                            "working directory (%s) or PYTHONPATH (%s): it leaves their "
                            "apply runs to other workers. Copy the module to this machine "
                            "and restart the worker to run them here", module,
                            ", ".join(names[:5]), os.getcwd(), os.environ.get("PYTHONPATH", ""))

    def _note_lf_modules(self, connection: Any) -> None:
        """Every :data:`~loop.service.lf_modules.NOTE_EVERY` s: note the versions of
        the LF modules this machine has (a copy edited since is noted anew)."""
        from loop.service.lf_modules import NOTE_EVERY, note_versions

        if time.monotonic() - getattr(self, "_noted_at", 0.0) < NOTE_EVERY:
            return
        self._noted_at = time.monotonic()
        note_versions(connection, self.name, sorted(self._lf_modules(connection)))

    @property
    def _beat_connection(self) -> Any:
        """The beats' own client, whose reads time out: on the worker's, a network
        cut left a beat waiting on its socket for as long as TCP retransmits (an
        operator's trial: counted dead for 95 s after the network was back, its
        jobs run again elsewhere and its own work thrown away)."""
        conn = getattr(self, "_beat_conn", None)
        if conn is None:
            pool = self.connection.connection_pool
            kwargs = {**pool.connection_kwargs, "socket_timeout": BEAT_SOCKET_TIMEOUT,
                      "socket_connect_timeout": BEAT_SOCKET_TIMEOUT}
            conn = self._beat_conn = redis.Redis(connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, **kwargs))
        return conn

    def _beat_once(self) -> None:
        # the set too, not only at start: after Redis lost its data (restored
        # without it, flushed) a worker must still be counted and judged by its key
        with self._beat_connection.pipeline() as p:
            p.set(alive_key(self.name), FORMAT, ex=self.liveness_ttl)  # stop_older_workers
            p.sadd(WORKERS_KEY, self.name)
            p.execute()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.beat_every):
            try:
                self._beat_once()
                conn = self._beat_connection
                if conn.set("loop:janitor", self.name, nx=True,
                            ex=max(1, int(self.beat_every))):
                    sweep_abandoned(conn, self.queues)
                    requeue_stranded(conn, self.queues, self.stranded_after)
                    free_dead_schedulers(conn, self.queues)
                    free_dead_locks(conn)
                    forget_dead_workers(conn)
                    enqueue_ready(conn, self.queues)
                # by each worker: a worker of an older version may hold the janitor's
                # key at every beat (upgrade trial: it did, and was never told)
                stop_older_workers(conn)
                self._maybe_reconcile()
                self._note_lf_modules(conn)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                # Redis away: one line, not a traceback every beat (compose trial: 42
                # tracebacks of 35 lines in a 15 s outage with 3 workers)
                log.warning("liveness beat failed, Redis unreachable (%s: %s); trying "
                            "again", type(exc).__name__, exc)
            except Exception:  # anything else must not kill the beat either
                log.exception("liveness beat failed; trying again")

    def _maybe_reconcile(self) -> None:
        """Once per :data:`loop.service.reconcile.EVERY` s, by one worker: ask for the
        work a request stored and never asked for (its web process killed between
        the two). In a thread of its own, so that many projects never hold up the
        beats that keep this worker counted alive."""
        from loop.service.reconcile import EVERY, reconcile

        if not self.connection.set("loop:reconciler", self.name, nx=True, ex=int(EVERY)):
            return

        def run() -> None:
            try:
                reconcile(self.connection, self.queues[0])
            except Exception:
                log.exception("reconciling the projects failed; trying again in %d s",
                              int(EVERY))

        threading.Thread(target=run, daemon=True, name="loop-reconcile").start()

    def execute_job(self, job: Any, queue: Any) -> None:
        if job.get_status(refresh=True) == JobStatus.CANCELED:
            # Canceled after this worker took it off the queue and before it started
            # (operator's trial: a frozen worker's blocking pop had taken it; the
            # cancel said "canceled", and the job ran once the worker thawed).
            log.warning("job %s was canceled before it started; not running it", job.id)
            queue.intermediate_queue.remove(job.id)
            return
        note_start(job)  # before the fork: a horse killed at once is a run too
        os.environ[START_NOTED_ENV] = job.id
        self._in_job = True
        try:
            super().execute_job(job, queue)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # RQ quits the worker on any error here (operator's trial: Redis stopped
            # during a job, both workers exited and restarted with the engine's
            # back-off, 40 s after Redis came back). Stay, and hand the job back.
            log.warning("Redis went away during job %s (%s); waiting for it", job.id, exc)
            self._reap_horse()
            if self._wait_for_redis():
                hand_back(self.connection, queue, job.id)
            return
        finally:
            self._in_job = False
        self._step_aside(job)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's, waiting for Redis when it is gone between jobs. RQ beats right after
        each job, outside :meth:`execute_job`'s handler, and quits the worker on any
        error there (chaos trial: Redis exited of a full disk as a job ended, at that
        very write, and the worker quit: a restart for nothing, counted towards the
        service giving up). In a job (its horse running, or a pipeline's) the error
        goes on to :meth:`execute_job`, which hands the job back."""
        while True:
            try:
                return super().heartbeat(timeout, pipeline)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if pipeline is not None or getattr(self, "_in_job", False):
                    raise
                log.warning("Redis went away between jobs (%s); waiting for it", exc)
                if not self._wait_for_redis():
                    return None  # told to stop meanwhile

    def _step_aside(self, job: Any) -> None:
        """Wait a moment when this worker could not run ``job`` for want of its LF
        module and the job went back to the queue: an idle worker that has the
        module takes it meanwhile (:func:`loop.service.tasks.try_elsewhere`)."""
        try:
            me = miss_label(self.name)
            misses = job.get_meta(refresh=True).get("lf_module_misses") or []
            if not misses or misses[-1] != me or job.get_status(refresh=True) not in (
                    JobStatus.QUEUED, JobStatus.SCHEDULED):
                return
        except Exception:  # the job is gone, or Redis is: nothing to step aside for
            return
        log.warning("this worker cannot run job %s (its LF module is not here, or not "
                    "the version the run was planned with): leaving it to another worker",
                    job.id)
        until = time.monotonic() + min(10.0, self.step_aside * misses.count(me))
        while time.monotonic() < until and not getattr(self, "_stop_requested", False):
            time.sleep(0.1)

    def _reap_horse(self) -> None:
        """Wait for the work horse to end (it fails on its own without Redis)."""
        pid, self._horse_pid = getattr(self, "_horse_pid", 0), 0
        if pid:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def _wait_for_redis(self) -> bool:
        """Ping Redis until it answers (True) or the worker is told to stop."""
        wait = 0.5
        while not getattr(self, "_stop_requested", False):
            try:
                self.connection.ping()
                return True
            except (RedisConnectionError, RedisTimeoutError, OSError):
                time.sleep(wait)
                wait = min(2 * wait, 5.0)
        return False

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        if (job.meta or {}).get("type") == "apply_lfs_unit":
            self._warm_rules(job.meta.get("project"))
        # Move every object the worker holds to the GC's permanent generation: the
        # horse's collections then never walk (and copy-on-write fault in) the
        # worker's memory. Measured: a 5,000-item apply unit 0.32 s -> 0.24 s.
        gc.freeze()
        super().fork_work_horse(job, queue)

    def _warm_rules(self, pid: Any) -> None:
        """Compile a project's rules here, once, for the horses of its apply units."""
        from loop.service.labeling import warm_rules
        from loop.storage import RedisStore

        try:
            warm_rules(RedisStore(self.connection), str(pid))
        except Exception:  # a deleted project, Redis gone: the unit finds out itself
            log.debug("could not compile the rules of project %s ahead", pid, exc_info=True)

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        # RQ's, with the scheduler that stops with its worker
        self.scheduler = LoopScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format, serializer=self.serializer)
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()

    def main_work_horse(self, job: Any, queue: Any) -> None:
        die_with_parent()
        super().main_work_horse(job, queue)

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any,
                           execution: Any) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        # the dependents RQ just moved to ready, should another worker's enqueue have
        # won the WATCH on the ready registry (a few tries, each a moment apart)
        for attempt in range(3):
            try:
                enqueue_ready(self.connection, [queue])
                if not self.connection.zcard(ReadyJobRegistry(queue=queue).key):
                    break
            except Exception:  # the sweep tries again within seconds
                log.debug("could not enqueue ready jobs", exc_info=True)
                break
            time.sleep(0.01 * (attempt + 1))

    def handle_job_failure(self, job: Any, queue: Any, started_job_registry: Any = None,
                           exc_string: str = "", execution: Any = None) -> None:
        # A horse that died (killed, out of memory, past its time limit) is failed or
        # retried here, in the worker, from the copy of the job it fetched before the
        # fork; RQ's retry saves that copy whole, meta included, which would erase
        # what the horse wrote (its run's start, progress, an apply plan's units).
        # Read the meta back first.
        try:
            job.get_meta(refresh=True)
        except Exception:  # the job is gone: RQ's own handling reports it
            log.debug("could not reload the meta of job %s", job.id, exc_info=True)
        if exc_string.startswith("Work-horse terminated unexpectedly"):
            exc_string = exc_string.rstrip() + "\n" + self._horse_died(job)
            self._note_model_failure(job)
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=exc_string, execution=execution)

    def _note_model_failure(self, job: Any) -> None:
        """A recalibration or retrain whose horse died records no failure of its own:
        record it where ``/metrics`` and the dashboard show it (service trial: a
        retrain killed on each of its tries failed for good while ``/metrics`` said
        no error). A run that then succeeds clears it."""
        from loop.errors import LoopError, WorkHorseDied
        from loop.service.recalibration import RUN_OF_JOB, record_failure
        from loop.storage import RedisStore

        meta = job.meta or {}
        run = RUN_OF_JOB.get(str(meta.get("type")))
        pid = meta.get("project")
        if run is None or not isinstance(pid, str):
            return

        store = RedisStore(self.connection)
        try:
            store.get_project(pid)  # not for a deleted project: it would leave a key
            left = int(job.retries_left or 0)  # RQ retries after this, if any left
            record_failure(store, pid, f"{run}_status", WorkHorseDied(
                f"job {job.id}: the worker process running it died (killed, or out of "
                "memory); " + (f"it is run again ({left} {'try' if left == 1 else 'tries'} "
                               "left)" if left else
                               "it had no tries left: the workers ask for another run by "
                               "themselves, or start one from the dashboard's jobs")))
        except (LoopError, redis.RedisError):
            log.warning("could not record the failure of job %s", job.id, exc_info=True)

    def _horse_died(self, job: Any) -> str:
        """The last line of a job whose horse died, which the job list shows: what it
        was doing, and what to do (new-user trial: an LF that called ``os._exit``
        was reported as "work-horse terminated", naming nothing)."""
        meta = job.meta or {}
        if meta.get("type") == "apply_lfs_unit":
            done = (meta.get("progress") or {}).get("done")
            try:
                from loop.storage import RedisStore

                pid, version, unit = job.args[:3]
                units = RedisStore(self.connection).apply_plan(pid, int(version))["units"]
                # a job computes one unit or several in a row; its progress counts rows
                # across them, so the unit it died in is the one that count falls in
                group = [units[int(i)] for i in ([unit] if isinstance(unit, int) else unit)]
                u, before = group[-1], 0
                for g in group:
                    if before + int(g["stop"]) - int(g["start"]) > int(done or 0):
                        u = g
                        break
                    before += int(g["stop"]) - int(g["start"])
                rows = f" to rows {int(u['start'])}-{int(u['stop']) - 1}"
                done = None if done is None else int(done) - before
            except Exception:  # the plan expired or the project is gone
                rows = ""
            return ("The worker process died while applying the "
                    f"LFs{rows}" + (f" ({done} done at its last report)" if done else "") +
                    ": an LF may end the process (os._exit, a crash in a C extension) or "
                    "use more memory than the machine has; or the process was killed. "
                    "Run the LFs on those rows in a Python shell to find which.")
        return ("The worker process running this job died: it ran out of memory or was "
                "killed. It is run again while it has retries left.")


def preload() -> None:
    """Import what jobs use, once, before the worker forks horses."""
    import loop.core.end_model  # noqa: F401
    import loop.core.label_model  # noqa: F401
    import loop.service.export  # noqa: F401
    import loop.service.tasks  # noqa: F401
