"""``python -m workers [rq worker options] [QUEUE ...]``: one ``loop`` worker."""

from __future__ import annotations

import os
import sys

from rq.cli.cli import main

from loop.service.settings import Settings
from workers import WORKER_CLASS

if __name__ == "__main__":
    # --with-scheduler: one worker at a time (RQ's lock) runs the scheduler that
    # enqueues delayed jobs (a recalibration asked for inside the minimum gap).
    # LOOP_WORKER_LOG_LEVEL, checked by Settings (only it is read here: the web app
    # checks the rest)
    try:
        level = Settings.from_mapping(
            {"WORKER_LOG_LEVEL": os.environ.get("LOOP_WORKER_LOG_LEVEL")}).worker_log_level
    except ValueError as exc:
        sys.exit(str(exc))
    level = level.upper()
    sys.argv = ["rq", "worker", "--worker-class", WORKER_CLASS, "--with-scheduler",
                "--logging_level", level, *sys.argv[1:]]
    main()
