"""``python -m workers [rq worker options] [QUEUE ...]``: one ``loop`` worker."""

from __future__ import annotations

import sys

from rq.cli.cli import main

from workers import WORKER_CLASS

if __name__ == "__main__":
    # --with-scheduler: one worker at a time (RQ's lock) runs the scheduler that
    # enqueues delayed jobs (a recalibration asked for inside the minimum gap).
    sys.argv = ["rq", "worker", "--worker-class", WORKER_CLASS, "--with-scheduler",
                *sys.argv[1:]]
    main()
