"""The worker process: ``python -m workers [--url URL] [QUEUE ...]``.

RQ's own ``rq worker`` command with the worker class
:class:`loop.service.worker.LoopWorker`; the jobs it runs are
:mod:`loop.service.tasks`. ``loop worker`` and ``docker compose`` start this.
"""

from __future__ import annotations

WORKER_CLASS = "loop.service.worker.LoopWorker"


def command(url: str | None, *queues: str, python: str | None = None) -> list[str]:
    """The command line of one worker process (without ``url``, it connects to
    ``$LOOP_REDIS_URL``: a URL with a password is better kept out of the command
    line, which every user of the machine reads in ``ps``)."""
    import sys

    where = ["--url", url] if url else []
    return [python or sys.executable, "-m", "workers", *where, *(queues or ("loop",))]
