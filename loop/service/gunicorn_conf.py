"""Settings of the web server ``loop serve`` runs (``gunicorn -c
python:loop.service.gunicorn_conf``): hooks only; the rest is on its command line."""

from __future__ import annotations

from typing import Any

from loop.service.worker import die_with_parent


def post_fork(server: Any, worker: Any) -> None:
    """In each web worker: SIGKILL when its gunicorn master dies, as the master dies
    with ``loop serve``. A ``kill -9`` of ``loop serve`` left the workers serving for
    up to their 4 s graceful timeout, holding the port, and a restart at once failed
    with "Address already in use" (operator's trial: 2 of 3 restarts)."""
    die_with_parent()
