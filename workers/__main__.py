"""``python -m workers [rq worker options] [QUEUE ...]``: one ``loop`` worker."""

from __future__ import annotations

import sys

from rq.cli.cli import main

from workers import WORKER_CLASS

if __name__ == "__main__":
    sys.argv = ["rq", "worker", "--worker-class", WORKER_CLASS, *sys.argv[1:]]
    main()
