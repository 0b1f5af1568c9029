"""One settings object: every default once, LOOP_* overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from loop.service.settings import PLACEHOLDER, Settings


def test_defaults_and_environment():
    s = Settings.from_env({"LOOP_QUEUE_SIZE": "500", "LOOP_DEMO": "true",
                           "LOOP_API_KEYS": "key-a-0123456, key-b-0123456", "OTHER": "x"})
    assert s.queue_size == 500 and s.demo is True
    assert s.admin_keys == ["key-a-0123456", "key-b-0123456"]
    assert s.low_water == 125 and Settings().queue_size == 1000


@pytest.mark.parametrize("env, name", [
    ({"LOOP_QUEUE_SIZE": "lots"}, "LOOP_QUEUE_SIZE"),
    ({"LOOP_QUEUE_SIZE": "0"}, "LOOP_QUEUE_SIZE"),
    ({"LOOP_DEMO": "maybe"}, "LOOP_DEMO"),
    ({"LOOP_EVAL_FRACTION": "2"}, "LOOP_EVAL_FRACTION"),
    ({"LOOP_LEASE_SECONDS": "-1"}, "LOOP_LEASE_SECONDS"),
    ({"LOOP_WORKER_LOG_LEVEL": "loud"}, "LOOP_WORKER_LOG_LEVEL"),
    # operator's trial: nan and inf passed "> 0", then every /queue/next was a 500
    ({"LOOP_LEASE_SECONDS": "nan"}, "LOOP_LEASE_SECONDS"),
    ({"LOOP_LEASE_SECONDS": "inf"}, "LOOP_LEASE_SECONDS"),
    ({"LOOP_STALL_SECONDS": "-inf"}, "LOOP_STALL_SECONDS"),
    ({"LOOP_RECALIBRATE_SECONDS": "NaN"}, "LOOP_RECALIBRATE_SECONDS"),
    # ... and with both rules off answers never reached the models, silently
    ({"LOOP_RECALIBRATE_EVERY": "0", "LOOP_RECALIBRATE_SECONDS": "0"},
     "LOOP_RECALIBRATE_EVERY and LOOP_RECALIBRATE_SECONDS are both 0"),
    # the placeholders .env.example ships: a copied, unedited file is no live service
    ({"LOOP_API_KEYS": "change-me"}, "LOOP_API_KEYS holds the placeholder"),
    # a one-letter key was accepted (security trial); the key itself is never quoted
    ({"LOOP_API_KEYS": "good-long-key-1, a"}, "a key of 1 character: an admin key needs 12"),
    # only spaces or commas: served with no key that could sign in (re-trial)
    ({"LOOP_API_KEYS": " , "}, "LOOP_API_KEYS is set but holds no key"),
    ({"LOOP_API_KEYS": "mine-0123456789, Change-Me"}, "LOOP_API_KEYS holds the placeholder"),
    ({"LOOP_REDIS_URL": "redis://:change-me-too@redis:6379/0"}, "Redis password"),
    ({"LOOP_REDIS_URL": "redis://redis:6379/0", "LOOP_REDIS_PASSWORD": "change-me-too"},
     "Redis password"),
    # operator's trial: "Port could not be cast to integer value as 'Kx9q'", a piece
    # of the password in every log line
    ({"LOOP_REDIS_URL": "redis://:Kx9q/Lm2@Zp7#Wv4@redis:6379/0"},
     "not a valid Redis URL.*LOOP_REDIS_PASSWORD"),
])
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(ValueError, match=name):
        Settings.from_env(env)


def test_a_redis_error_never_shows_the_password():
    with pytest.raises(ValueError) as err:
        Settings.from_env({"LOOP_REDIS_URL": "redis://:Kx9q/Lm2@Zp7#Wv4@redis:6379/0"})
    assert "Kx9q" not in str(err.value) and "Zp7" not in str(err.value)


def test_a_password_of_any_characters_reaches_redis(tmp_path):
    """LOOP_REDIS_PASSWORD beside a URL without one: the web app and a worker
    process both connect to a Redis that requires it."""
    import os
    import subprocess
    import sys
    import time

    import redis

    from loop.redis_server import redacted, with_password
    from loop.service.supervisor import redis_command
    from loop.web import create_app

    secret = "Kx9q/Lm2@Zp7#Wv4:?"
    sock = tmp_path / "r.sock"
    cmd = redis_command(tmp_path, sock)
    server = subprocess.Popen([*cmd[:1], "--requirepass", secret, *cmd[1:]],
                              stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"unix://{sock}"
        conn = redis.Redis.from_url(with_password(url, secret))
        for _ in range(100):
            try:
                conn.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        assert "Kx9q" not in redacted(with_password("redis://redis:6379/0", secret))
        app = create_app({"TESTING": True, "API_KEYS": "k-0123456789ab", "REDIS_URL": url,
                          "REDIS_PASSWORD": secret})
        assert app.test_client().get("/healthz").status_code == 200
        env = {**os.environ, "LOOP_REDIS_URL": url, "LOOP_REDIS_PASSWORD": secret}
        worker = subprocess.run([sys.executable, "-m", "workers", "--burst", "loop"],
                                env=env, capture_output=True, text=True, timeout=60,
                                cwd=Path(__file__).parents[2])
        assert worker.returncode == 0, worker.stderr[-2000:]
        # loop serve's own checks reach it too, with the URL it is given (the password
        # in it, as run_service passes it): how many workers beat, whether Redis is full
        from loop.service.supervisor import Supervisor

        sup = Supervisor(data_dir=str(tmp_path / "var"), redis_url=with_password(url, secret),
                         workers=1)
        assert sup._alive_workers() == 0 and sup._redis_full() is None
        conn.mset({f"ballast:{i}": b"x" * 20_000 for i in range(200)})
        conn.config_set("maxmemory", int(0.9 * conn.info("memory")["used_memory"]))
        assert sup._redis_full(), "a full Redis not seen"
    finally:
        server.kill()
        server.wait()


def test_the_app_and_the_workers_read_the_same_settings(monkeypatch, tmp_path):
    from loop.web import create_app

    monkeypatch.setenv("LOOP_QUEUE_SIZE", "77")
    monkeypatch.setenv("LOOP_DATA_DIR", str(tmp_path))
    app = create_app({"TESTING": True, "API_KEYS": "k-0123456789ab"})
    try:
        assert app.extensions["loop"]["settings"] == Settings.from_env().__class__.from_mapping(
            {**Settings.from_env().as_config(), "API_KEYS": "k-0123456789ab",
             "DATA_DIR": str(tmp_path)})
        assert app.extensions["loop"]["settings"].queue_size == 77
    finally:
        app.extensions["loop"]["connection"].shutdown()


def test_the_placeholders_refused_are_the_ones_env_example_ships():
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    for line in example.splitlines():
        if line.startswith(("LOOP_API_KEYS=", "LOOP_REDIS_PASSWORD=")):
            assert line.split("=", 1)[1].startswith(PLACEHOLDER), line


def test_serve_refuses_a_placeholder_key_before_starting_anything(tmp_path, capsys,
                                                                   monkeypatch):
    from loop.cli import main

    monkeypatch.setenv("LOOP_API_KEYS", "change-me")
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    assert "placeholder" in capsys.readouterr().err
    assert not (tmp_path / "redis").exists()  # nothing was started


@pytest.mark.parametrize("env, says", [
    ({"LOOP_API_KEYS": "change-me"}, "LOOP_API_KEYS holds the placeholder"),
    ({"LOOP_API_KEYS": "good-long-key-1", "LOOP_LEASE_SECONDS": "nan"},
     "LOOP_LEASE_SECONDS must be a finite number"),
])
def test_a_worker_refuses_the_settings_the_web_app_refuses(env, says):
    """Operator's trial (docker compose with .env.example's placeholder key): web
    restarted, refusing it, but the worker ran on, its reconciler failing every 30 s.
    It exits before it connects to Redis (none listens on this URL)."""
    import os
    import subprocess
    import sys

    run_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOP_")}
    run_env.update(env, LOOP_REDIS_URL="redis://127.0.0.1:1/0")
    worker = subprocess.run([sys.executable, "-m", "workers", "--burst", "loop"],
                            env=run_env, capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert worker.returncode != 0 and says in worker.stderr, worker.stderr[-2000:]
