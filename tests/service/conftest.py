"""Fixtures for service tests: one embedded Redis per session, a fresh DB per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # svc_helpers and lfs_youtube, for every process

from svc_helpers import ADMIN, auth  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("LOOP_"):
            monkeypatch.delenv(k)
    monkeypatch.syspath_prepend(str(HERE))  # lfs_youtube importable by dotted path
    # ... in subprocesses too (the web app checks LF modules in one)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(HERE), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    from loop.redis_server import connect

    conn = connect(None, data_dir=str(tmp_path_factory.mktemp("redis")))
    yield conn
    conn.client.close()
    conn.shutdown()


@pytest.fixture
def redis_url(redis_server):
    redis_server.client.flushdb()
    return redis_server.url


@pytest.fixture
def rconn(redis_server, redis_url):
    return redis_server.client


@pytest.fixture
def store(rconn):
    from loop.storage import RedisStore

    return RedisStore(rconn)


@pytest.fixture
def app_config():
    """More settings for :func:`app` (a test parametrizes it to change them)."""
    return {}


@pytest.fixture
def app(redis_url, app_config):
    from loop.web import create_app

    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "API_KEYS": ADMIN,
                      "CHUNK_SIZE": 300, "QUEUE_SIZE": 60, **app_config})
    yield app
    app.extensions["loop"]["redis"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def project(client):
    r = client.post("/api/projects", headers=auth(), json={
        "name": "yt", "labels": ["ham", "spam"], "lf_module": "lfs_youtube",
        "text_field": "CONTENT"})
    assert r.status_code == 201, r.json
    return r.json["id"]


