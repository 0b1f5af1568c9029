"""The embedded Redis's append-only file after a kill in the middle of a transaction
(``loop.service.aof``), with the real ``redis-server`` of the service."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from loop.service.aof import AOF_NAME, cut_unfinished_transaction
from loop.service.supervisor import prepare_redis_dir, redis_command


def _resp(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode())
    return out


def _start(d: Path) -> tuple[subprocess.Popen, redis.Redis]:
    sock = d / "redis.sock"
    proc = subprocess.Popen(redis_command(d, sock), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    r = redis.Redis(unix_socket_path=str(sock))
    deadline = time.monotonic() + 20
    while True:
        try:
            r.ping()
            return proc, r
        except (redis.ConnectionError, redis.BusyLoadingError):
            assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
            time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_transaction_cut_short_by_a_kill_never_comes_back(tmp_path: Path) -> None:
    """Operator's trial: Redis SIGKILLed while it wrote an upload's transaction; the
    upload answered 503 and nothing was stored, but after a later restart 30,000 of
    its rows were back (Redis kept the unfinished MULTI, which took in the commands
    written after it)."""
    proc, r = _start(tmp_path)
    r.set("a", "1")
    r.rpush("ids", "x0")
    _kill(proc)
    aof = tmp_path / AOF_NAME
    whole = aof.stat().st_size
    # what a kill in the middle of writing MULTI ... EXEC leaves: its first part
    txn = _resp("MULTI") + _resp("SET", "b", "2") + _resp("RPUSH", "ids", "y" * 200) + \
        _resp("EXEC")
    with aof.open("ab") as f:
        f.write(txn[:len(txn) - 120])
    prepare_redis_dir(tmp_path)
    assert aof.stat().st_size == whole
    proc, r = _start(tmp_path)
    assert r.get("b") is None and r.lrange("ids", 0, -1) == [b"x0"]
    r.set("c", "3")  # written after the restart
    _kill(proc)
    prepare_redis_dir(tmp_path)  # a whole file: nothing cut
    proc, r = _start(tmp_path)
    try:
        assert (r.get("a"), r.get("b"), r.get("c")) == (b"1", None, b"3")
        assert r.lrange("ids", 0, -1) == [b"x0"]
    finally:
        _kill(proc)


def test_a_file_damaged_elsewhere_is_left_for_redis_to_judge(tmp_path: Path) -> None:
    """Only an unfinished transaction at the end is cut: a command cut short outside
    one (Redis drops it itself) or bytes that are no command stay as they are."""
    aof = tmp_path / AOF_NAME
    head = _resp("SELECT", "0") + _resp("SET", "a", "1")
    for tail in (_resp("SET", "b", "x" * 50)[:-10], b"garbage\r\n" + _resp("SET", "b", "2"),
                 _resp("MULTI") + _resp("SET", "b", "2") + _resp("MULTI")):
        aof.write_bytes(head + tail)
        prepare_redis_dir(tmp_path)
        assert aof.read_bytes() == head + tail
    aof.write_bytes(head)
    prepare_redis_dir(tmp_path)
    assert aof.read_bytes() == head


def test_without_a_checker_to_run_the_file_is_left_to_redis(tmp_path: Path) -> None:
    """A checker that cannot run never keeps the embedded Redis from starting."""
    aof = tmp_path / AOF_NAME
    torn = _resp("SET", "a", "1") + _resp("MULTI") + _resp("SET", "b", "2")
    aof.write_bytes(torn)
    assert cut_unfinished_transaction(tmp_path, redis_server=str(tmp_path / "none")) == 0
    assert aof.read_bytes() == torn
    assert cut_unfinished_transaction(tmp_path) == len(torn) - len(_resp("SET", "a", "1"))


def test_a_restarted_redis_compacts_the_file_it_grew_before(tmp_path):
    """Chaos trial: Redis takes the file's size at its start as the base its automatic
    rewrites wait to double, so restarts on a grown file put compaction off (196 MB
    after nine restarts, 17 MB rewritten). Once up, the supervisor compacts a file of
    16 MB or more (here 1 MB)."""
    from loop.redis_server import compact_aof

    d = tmp_path
    proc, r = _start(d)
    for i in range(300):  # one key written over and over: history, not data
        r.set("k", str(i) * 2000)
    _kill(proc)
    proc, r = _start(d)
    try:
        grown = int(r.info("persistence")["aof_current_size"])
        assert grown > 1 << 20
        assert not compact_aof(r, min_size=grown + 1)  # under the size: left alone
        assert compact_aof(r, min_size=1 << 20)
        deadline = time.monotonic() + 20
        while int(r.info("persistence")["aof_rewrite_in_progress"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert int(r.info("persistence")["aof_current_size"]) < grown / 10
        assert r.get("k") == b"299" * 2000
        assert not compact_aof(r, min_size=1 << 20)  # compacted: nothing to do
    finally:
        _kill(proc)


def test_a_file_mostly_history_is_compacted_by_the_workers_check(tmp_path):
    """Docker compose's Redis has no loop serve to compact it after a start: workers
    check now and then, and compact a file of four times the data or more."""
    from loop.redis_server import compact_aof

    proc, r = _start(tmp_path)
    try:
        r.set("big", "x" * (2 << 20))  # 2 MB of data, written once: not history
        assert not compact_aof(r, min_size=1 << 20, times_data=4.0)
        with r.pipeline(transaction=False) as p:
            for i in range(3000):  # one small key written over and over: history
                p.set("k", f"{i:04d}" * 1000)
            p.execute()
        assert compact_aof(r, min_size=1 << 20, times_data=4.0)
    finally:
        _kill(proc)
