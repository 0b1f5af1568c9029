"""``python -m workers [rq worker options] [QUEUE ...]``: one ``loop`` worker."""

from __future__ import annotations

import os
import sys

from rq.cli.cli import main

from loop.redis_server import with_password
from loop.service.settings import Settings
from workers import WORKER_CLASS

if __name__ == "__main__":
    # --with-scheduler: one worker at a time (RQ's lock) runs the scheduler that
    # enqueues delayed jobs (a recalibration asked for inside the minimum gap).
    # Every LOOP_* setting is checked here as the web app checks it, so a worker
    # refuses to start where the web app would (a placeholder key from .env.example,
    # LOOP_LEASE_SECONDS=nan): docker compose's workers ran on with the placeholder,
    # their reconciler failing every 30 s (operator's trial). The Redis URL reaches
    # RQ through its environment (RQ_REDIS_URL), never the command line, where any user of the
    # machine reads it in ps: --url is taken off, LOOP_REDIS_PASSWORD put in.
    args = sys.argv[1:]
    url = os.environ.get("LOOP_REDIS_URL", "")
    for flag in ("--url", "-u"):
        if flag in args[:-1]:
            at = args.index(flag)
            url = args[at + 1]
            del args[at:at + 2]
    for a in [a for a in args if a.startswith("--url=")]:
        url = a.split("=", 1)[1]
        args.remove(a)
    try:
        settings = Settings.from_env({**os.environ, "LOOP_REDIS_URL": url})
    except ValueError as exc:
        sys.exit(str(exc))
    if url:
        os.environ["RQ_REDIS_URL"] = with_password(url, settings.redis_password)
    sys.argv = ["rq", "worker", "--worker-class", WORKER_CLASS, "--with-scheduler",
                "--logging_level", settings.worker_log_level.upper(), *args]
    main()
