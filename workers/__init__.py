"""The worker process: ``python -m workers [--url URL] [QUEUE ...]``.

RQ's own ``rq worker`` command with the worker class
:class:`loop.service.worker.LoopWorker`; the jobs it runs are
:mod:`loop.service.tasks`. ``loop worker`` and ``docker compose`` start this.
"""

from __future__ import annotations

WORKER_CLASS = "loop.service.worker.LoopWorker"


def command(url: str, *queues: str, python: str | None = None) -> list[str]:
    """The command line of one worker process."""
    import sys

    return [python or sys.executable, "-m", "workers", "--url", url, *(queues or ("loop",))]
