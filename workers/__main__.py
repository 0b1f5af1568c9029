"""``python -m workers [rq worker options] [QUEUE ...]``: one ``loop`` worker."""

from __future__ import annotations

import os
import sys

from rq.cli.cli import main

from loop.service.settings import LOG_LEVELS, Settings
from workers import WORKER_CLASS

if __name__ == "__main__":
    # --with-scheduler: one worker at a time (RQ's lock) runs the scheduler that
    # enqueues delayed jobs (a recalibration asked for inside the minimum gap).
    # LOOP_WORKER_LOG_LEVEL (Settings.worker_log_level; only it is read here: the
    # web app checks the rest)
    level = os.environ.get("LOOP_WORKER_LOG_LEVEL", Settings.worker_log_level).upper()
    if level not in LOG_LEVELS:
        sys.exit(f"LOOP_WORKER_LOG_LEVEL must be one of {list(LOG_LEVELS)}, got {level!r}")
    sys.argv = ["rq", "worker", "--worker-class", WORKER_CLASS, "--with-scheduler",
                "--logging_level", level, *sys.argv[1:]]
    main()
