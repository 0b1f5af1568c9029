"""``loop serve`` and ``loop worker``: run the service from the command line or Python."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any

from loop.redis_server import redacted, with_password
from loop.service.settings import Settings
from loop.service.supervisor import DEFAULT_WEB_THREADS, Supervisor, SupervisorGaveUp, say


def run_service(workers: int = 2, host: str = "127.0.0.1", port: int = 8000,
                data_dir: str = "var", api_keys: str | None = None,
                web_workers: int | None = None, wait: bool = True,
                env: dict[str, str] | None = None, web_threads: int | None = None,
                ) -> Any:
    """Start Redis (embedded unless ``LOOP_REDIS_URL``), ``workers`` RQ workers and
    gunicorn under a :class:`~loop.service.supervisor.Supervisor`.

    The admin key comes from ``api_keys``, else ``LOOP_API_KEYS``; only a key it
    had to generate is printed. With ``wait`` it supervises until Ctrl-C /
    SIGTERM and returns the exit code; else it returns ``{url, redis_url,
    api_keys, supervisor, processes, connection}`` (stop it with
    :func:`stop_service`).
    """
    check_port_free(host, port)
    keys = api_keys or os.environ.get("LOOP_API_KEYS") or ""  # " " is refused below
    generated = not keys
    if generated:
        keys = secrets.token_urlsafe(16)
    # every setting checked here, where a bad one is one clear error (the web app
    # would refuse it too, but as a crash the supervisor restarts five times)
    settings = Settings.from_env({**os.environ, "LOOP_API_KEYS": keys})
    if generated:  # said once the settings hold (re-trial: a key printed, then refused)
        say(f"generated an admin API key (set LOOP_API_KEYS to choose your own): {keys}")
    if settings.redis_password and not settings.redis_url:
        say("LOOP_REDIS_PASSWORD is set without LOOP_REDIS_URL: it is not used (the "
            "embedded Redis listens only on a unix socket this user alone can open); "
            "set LOOP_REDIS_URL to use a Redis of your own with that password")
    sup = Supervisor(data_dir=data_dir,
                     redis_url=with_password(settings.redis_url, settings.redis_password),
                     workers=workers, host=host, port=port, web_workers=web_workers,
                     web_threads=web_threads, api_keys=keys, env=env)
    try:
        sup.start()
    except SupervisorGaveUp as exc:  # Redis did not come up, or holds newer data
        sup.stop()
        raise ValueError(str(exc)) from None
    say(f"serving on {sup.url}  (redis: {redacted(sup.redis_url)}, workers: {workers}); "
        "Ctrl-C stops")
    if wait:
        return sup.run()
    return {"url": sup.url, "redis_url": sup.redis_url, "api_keys": keys, "supervisor": sup,
            "processes": [c.proc for c in sup.children], "connection": _Client(sup.redis_url)}


def check_port_free(host: str, port: int, wait: float = 3.0) -> None:
    """Raise ``ValueError`` unless the web server could listen on ``host:port`` (bound
    as gunicorn binds: with SO_REUSEADDR) within ``wait`` seconds. Checked before
    anything starts: else the service says it serves there while another process
    answers on the port, and its web server fails five times before the supervisor
    gives up. The wait: processes of a service just stopped or killed may hold the
    port a moment longer (operator's trial: a restart right after a ``kill -9``)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"cannot serve on {host}:{port}: {exc}; check --host") from None
    deadline = time.monotonic() + wait
    while True:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(addr)
                return
            except OSError as exc:
                # a service stopped a moment ago may still be letting the port go
                if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise ValueError(f"cannot serve on {host}:{port}: {exc.strerror or exc} "
                                 "(another process listens there?); stop it or choose "
                                 "another --port") from None


class _Client:
    """A Redis client for the service's Redis (``.client``)."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def shutdown(self) -> None:
        self.client.close()


def stop_service(info: dict[str, Any]) -> None:
    """Stop what :func:`run_service` started (``wait=False``)."""
    info["connection"].shutdown()
    info["supervisor"].stop()


def cmd_serve(args: argparse.Namespace) -> int:
    return int(run_service(workers=args.workers, host=args.host, port=args.port,
                           data_dir=args.data_dir, web_workers=args.web_workers,
                           web_threads=args.web_threads))


def cmd_worker(args: argparse.Namespace) -> int:
    from workers import command

    url = args.url or os.environ.get("LOOP_REDIS_URL")
    if not url:
        print("loop: error: give --url or set LOOP_REDIS_URL", file=sys.stderr)
        return 2
    # this process becomes the worker (exec): a kill or a process manager's stop of
    # `loop worker` reaches it (operator's trial: killed, it left the worker running
    # as an orphan, taking jobs, 13 of them after 13 kills)
    cmd = command(None, args.queue)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, {**os.environ, "LOOP_REDIS_URL": url})


def cmd_backup(args: argparse.Namespace) -> int:
    from loop.service.backup import EMBEDDED_RDB_VERSION, BackupError, backup

    # a --data-dir given is what is backed up, whatever $LOOP_REDIS_URL says (a drill:
    # with it set in the shell, `--data-dir var` backed up that Redis instead, unsaid)
    raw = args.redis_url or ("" if args.data_dir else os.environ.get("LOOP_REDIS_URL", ""))
    if args.redis_url and args.data_dir:
        print("loop: error: give --data-dir or --redis-url, not both", file=sys.stderr)
        return 2
    url = with_password(raw, os.environ.get("LOOP_REDIS_PASSWORD")) if raw else ""
    data_dir = Path(args.data_dir or "var")
    to_stdout = args.file == "-"  # `docker compose exec -T web loop backup - > file`
    try:
        # to stdout as Redis sends it: a copy written first would take the room of the
        # whole backup again (in a container, in its writable layer)
        got = backup(sys.stdout.buffer if to_stdout else Path(args.file), data_dir=data_dir,
                     redis_url=url)
    except (BackupError, ValueError) as exc:
        print(f"loop: error: {exc}", file=sys.stderr)
        return 1
    if got.removed:
        print(f"loop: removed {', '.join(got.removed)} from {Path(args.file).parent}: what a "
              "backup of that name cut short (killed) left, never a backup", file=sys.stderr)
    how = ("copy it to /data/restore.rdb of an empty Redis volume (Redis 7's format: "
           "README, Backups)" if got.version > EMBEDDED_RDB_VERSION
           else "`loop restore FILE --data-dir <a new folder>`")
    print(f"backed up {got.describe()} to {'stdout' if to_stdout else got.path} "
          f"({got.where_counted()}); to restore it, {how}",
          file=sys.stderr if to_stdout else sys.stdout)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from loop.service.backup import BackupError
    from loop.service.restore import restore

    try:
        got = restore(args.file, args.data_dir)
    except (BackupError, ValueError) as exc:
        print(f"loop: error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {got.describe()} into {got.path}; start it with "
          f"`loop serve --data-dir {args.data_dir}`")
    return 0


def add_service_commands(sub: Any) -> None:
    """Add ``serve`` and ``worker`` to the ``loop`` CLI's subparsers."""
    s = sub.add_parser("serve", help="run Redis (embedded), rq workers and the web API")
    s.add_argument("--workers", type=int, default=2, help="rq worker processes")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--data-dir", default="var", help="embedded Redis data (append-only file)")
    s.add_argument("--web-workers", type=int, default=None,
                   help="gunicorn worker processes (default: one per core, at least 2)")
    s.add_argument("--web-threads", type=int, default=None,
                   help=f"threads per gunicorn worker (default {DEFAULT_WEB_THREADS})")
    s.set_defaults(func=cmd_serve)
    b = sub.add_parser("backup", help="save the service's data to one file, while it runs")
    b.add_argument("file", help="where to write the backup (a Redis snapshot); - for stdout")
    b.add_argument("--data-dir", default=None,
                   help="the data directory `loop serve` runs on (default var, or "
                        "$LOOP_REDIS_URL's Redis when that is set)")
    b.add_argument("--redis-url", default="",
                   help="back up this Redis instead (with $LOOP_REDIS_PASSWORD)")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="make a new data directory from a backup")
    r.add_argument("file", help="a file `loop backup` wrote")
    r.add_argument("--data-dir", required=True,
                   help="the data directory to create (new, or without data)")
    r.set_defaults(func=cmd_restore)
    w = sub.add_parser("worker", help="run one rq worker for the loop queue")
    w.add_argument("--url", help="Redis URL (default $LOOP_REDIS_URL)")
    w.add_argument("--queue", default="loop")
    w.set_defaults(func=cmd_worker)
