"""Helpers shared by the service tests (importable: conftest puts this folder on sys.path)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = Path("/work/shared/data/youtube_spam_collection_uci")
ADMIN = "test-admin-key"


def auth(token=ADMIN):
    return {"Authorization": f"Bearer {token}"}


def youtube_csv(files=("Youtube01-Psy.csv",)) -> bytes:
    """The CSV files concatenated under one header."""
    out = []
    for i, name in enumerate(files):
        lines = (DATA / name).read_bytes().decode("utf-8-sig").splitlines(keepends=True)
        out += lines if i == 0 else lines[1:]
    return "".join(out).encode()


def worker_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)])
    env["LOOP_REDIS_URL"] = url
    return env


def rq_worker_cmd(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rq.cli", "worker", "--url", url, "loop", *extra]


def run_burst(rconn, queue_name="loop"):
    """Run every queued job in this process with a real SimpleWorker."""
    from rq import Queue, SimpleWorker

    q = Queue(queue_name, connection=rconn)
    SimpleWorker([q], connection=rconn).work(burst=True)
