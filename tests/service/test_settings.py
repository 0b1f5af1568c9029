"""One settings object: every default once, LOOP_* overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from loop.service.settings import PLACEHOLDER, Settings


def test_defaults_and_environment():
    s = Settings.from_env({"LOOP_QUEUE_SIZE": "500", "LOOP_DEMO": "true",
                           "LOOP_API_KEYS": "a, b", "OTHER": "x"})
    assert s.queue_size == 500 and s.demo is True and s.admin_keys == ["a", "b"]
    assert s.low_water == 125 and Settings().queue_size == 1000


@pytest.mark.parametrize("env, name", [
    ({"LOOP_QUEUE_SIZE": "lots"}, "LOOP_QUEUE_SIZE"),
    ({"LOOP_QUEUE_SIZE": "0"}, "LOOP_QUEUE_SIZE"),
    ({"LOOP_DEMO": "maybe"}, "LOOP_DEMO"),
    ({"LOOP_EVAL_FRACTION": "2"}, "LOOP_EVAL_FRACTION"),
    ({"LOOP_LEASE_SECONDS": "-1"}, "LOOP_LEASE_SECONDS"),
    ({"LOOP_WORKER_LOG_LEVEL": "loud"}, "LOOP_WORKER_LOG_LEVEL"),
    # the placeholders .env.example ships: a copied, unedited file is no live service
    ({"LOOP_API_KEYS": "change-me"}, "LOOP_API_KEYS holds the placeholder"),
    ({"LOOP_API_KEYS": "mine-0123456789, Change-Me"}, "LOOP_API_KEYS holds the placeholder"),
    ({"LOOP_REDIS_URL": "redis://:change-me-too@redis:6379/0"}, "Redis password"),
])
def test_bad_values_name_the_variable(env, name):
    with pytest.raises(ValueError, match=name):
        Settings.from_env(env)


def test_the_app_and_the_workers_read_the_same_settings(monkeypatch, tmp_path):
    from loop.web import create_app

    monkeypatch.setenv("LOOP_QUEUE_SIZE", "77")
    monkeypatch.setenv("LOOP_DATA_DIR", str(tmp_path))
    app = create_app({"TESTING": True, "API_KEYS": "k"})
    try:
        assert app.extensions["loop"]["settings"] == Settings.from_env().__class__.from_mapping(
            {**Settings.from_env().as_config(), "API_KEYS": "k", "DATA_DIR": str(tmp_path)})
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
