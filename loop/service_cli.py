"""``loop serve`` and ``loop worker``: run the service from the command line or Python."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

#: Threads per gunicorn worker: requests mostly wait on Redis, but more threads
#: than this per process just contend for the GIL.
DEFAULT_WEB_THREADS = 8


def default_web_workers() -> int:
    """One gunicorn process per core (at least 2): the GIL caps each at one core."""
    return max(2, os.cpu_count() or 1)


def _worker_cmd(url: str, queue: str = "loop") -> list[str]:
    from workers import command

    return command(url, queue)


def run_service(workers: int = 2, host: str = "127.0.0.1", port: int = 8000,
                data_dir: str = "var", api_keys: str | None = None,
                web_workers: int | None = None, wait: bool = True,
                env: dict[str, str] | None = None, web_threads: int | None = None,
                ) -> dict[str, Any]:
    """Start Redis (embedded unless ``LOOP_REDIS_URL``), ``workers`` rq workers and gunicorn.

    gunicorn runs ``web_workers`` gthread processes with ``web_threads`` threads
    each (defaults: :func:`default_web_workers`, :data:`DEFAULT_WEB_THREADS`).

    Returns ``{url, redis_url, api_keys, processes, connection}``; with ``wait`` it
    blocks until Ctrl-C / SIGTERM and then stops every process it started.
    """
    from loop.redis_server import connect

    conn = connect(os.environ.get("LOOP_REDIS_URL"), data_dir=os.path.join(data_dir, "redis"))
    keys = api_keys or os.environ.get("LOOP_API_KEYS") or secrets.token_urlsafe(16)
    child_env = {**os.environ, **(env or {}), "LOOP_REDIS_URL": conn.url, "LOOP_API_KEYS": keys,
                 "LOOP_DATA_DIR": data_dir}
    procs = [subprocess.Popen(_worker_cmd(conn.url), env=child_env) for _ in range(workers)]
    web_workers = web_workers or default_web_workers()
    web_threads = web_threads or DEFAULT_WEB_THREADS
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", str(web_threads),
         "-w", str(web_workers), "-b", f"{host}:{port}", "--no-control-socket",
         "loop.web:create_app()"],
        env=child_env))
    url = f"http://{host}:{port}"
    print(f"loop: serving on {url}  (redis: {conn.url}, workers: {workers})", flush=True)
    print(f"loop: admin API key(s): {keys}", flush=True)
    info = {"url": url, "redis_url": conn.url, "api_keys": keys, "processes": procs,
            "connection": conn}
    if wait:
        def stop(*_: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop_service(info)
    return info


def stop_service(info: dict[str, Any]) -> None:
    """Terminate the processes :func:`run_service` started, then the embedded Redis."""
    for p in info["processes"]:
        if p.poll() is None:
            p.terminate()
    for p in info["processes"]:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    info["connection"].shutdown()


def cmd_serve(args: argparse.Namespace) -> int:
    run_service(workers=args.workers, host=args.host, port=args.port, data_dir=args.data_dir,
                web_workers=args.web_workers, web_threads=args.web_threads)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("LOOP_REDIS_URL")
    if not url:
        print("loop: error: give --url or set LOOP_REDIS_URL", file=sys.stderr)
        return 2
    return subprocess.call(_worker_cmd(url, args.queue))


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
    w = sub.add_parser("worker", help="run one rq worker for the loop queue")
    w.add_argument("--url", help="Redis URL (default $LOOP_REDIS_URL)")
    w.add_argument("--queue", default="loop")
    w.set_defaults(func=cmd_worker)
