"""`loop serve` as a Python function: embedded Redis, rq workers, gunicorn."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest
from svc_helpers import worker_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_a_port_in_use_says_so_and_starts_nothing(tmp_path, capsys):
    """Another process listens on the port: one clear error before anything starts
    (it said "serving on" that port while gunicorn failed five times)."""
    from loop.cli import main

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        rc = main(["serve", "--port", str(port), "--data-dir", str(tmp_path / "var")])
    err = capsys.readouterr()
    assert rc == 2
    assert f"cannot serve on 127.0.0.1:{port}" in err.err and "--port" in err.err, err
    assert "serving on" not in err.out + err.err and "generated" not in err.out + err.err
    assert not (tmp_path / "var").exists()  # no Redis, no workers started


def test_serve_with_a_bad_setting_says_why_and_prints_no_key(tmp_path, capsys, monkeypatch):
    """Re-trial: with LOOP_LEASE_SECONDS=nan, loop serve printed "generated an admin
    API key ..." and then refused the setting: a key for a service that never ran."""
    from loop.cli import main

    monkeypatch.delenv("LOOP_API_KEYS", raising=False)
    monkeypatch.setenv("LOOP_LEASE_SECONDS", "nan")
    rc = main(["serve", "--port", str(_free_port()), "--data-dir", str(tmp_path / "var")])
    err = capsys.readouterr()
    assert rc == 2
    assert "LOOP_LEASE_SECONDS must be a finite number, got nan" in err.err, err
    assert "generated" not in err.out + err.err and "serving on" not in err.out + err.err
    assert not (tmp_path / "var").exists()


def _serves_with_its_worker(info: dict) -> None:
    """The service answers with its one worker alive, and lists no projects."""
    end = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{info['url']}/healthz?workers=1", timeout=2) as r:
                assert json.load(r)["ok"] is True  # and its one worker is alive
                break
        except OSError:
            assert time.time() < end, "the service did not come up with its worker"
            time.sleep(0.2)
    req = urllib.request.Request(f"{info['url']}/api/projects",
                                 headers={"Authorization": "Bearer k1-long-enough"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.load(r) == {"projects": []}


@pytest.mark.slow
def test_run_service_serves_the_api(tmp_path):
    from loop.service_cli import run_service, stop_service

    port = _free_port()
    env = {k: v for k, v in worker_env("x").items() if k == "PYTHONPATH"}
    info = run_service(workers=1, port=port, data_dir=str(tmp_path), api_keys="k1-long-enough",
                       web_workers=1, wait=False, env=env)
    try:
        _serves_with_its_worker(info)
    finally:
        stop_service(info)


@pytest.mark.slow
def test_a_redis_password_without_a_redis_url_leaves_the_embedded_redis_working(
        tmp_path, monkeypatch, capsys):
    """LOOP_REDIS_PASSWORD set, LOOP_REDIS_URL not: the service ran on a broken URL
    ("//:***@") and its children sent a password the embedded Redis never asked for.
    Now the embedded Redis serves, the workers beat and the log says the password is
    not used."""
    from loop.service_cli import run_service, stop_service

    monkeypatch.delenv("LOOP_REDIS_URL", raising=False)
    monkeypatch.setenv("LOOP_REDIS_PASSWORD", "an-unused-secret/@#")
    port = _free_port()
    env = {k: v for k, v in worker_env("x").items() if k == "PYTHONPATH"}
    info = run_service(workers=1, port=port, data_dir=str(tmp_path), api_keys="k1-long-enough",
                       web_workers=1, wait=False, env=env)
    try:
        assert info["redis_url"].startswith("unix://") and "secret" not in info["redis_url"]
        said = capsys.readouterr()
        assert "LOOP_REDIS_PASSWORD is set without LOOP_REDIS_URL" in said.out + said.err
        _serves_with_its_worker(info)  # the worker and the web app reached Redis
    finally:
        stop_service(info)
