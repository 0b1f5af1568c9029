"""``loop restore``: a new data directory for ``loop serve --data-dir`` made from a
backup (:mod:`loop.service.backup`): the snapshot is loaded by the embedded Redis and
written out as its append-only file, then loaded once more to count what came back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from loop.service.backup import (
    EMBEDDED_RDB_VERSION,
    BackupError,
    Snapshot,
    key_counts,
    rdb_version,
    size,
    start_redis,
    stop_redis,
)


def restore(rdb: Path, data_dir: Path) -> Snapshot:
    """Make ``data_dir`` (new, or without data) a data directory holding the backup
    ``rdb``, for ``loop serve --data-dir``. Built in ``redis.restoring/`` beside
    ``redis/``, which gets the append-only file only once it was loaded back whole: a
    restore cut short leaves no data ``loop serve`` would start on, and is run again."""
    import redis

    from loop.service.aof import AOF_NAME
    from loop.service.supervisor import RESTORING_DIR, DataDirBusy, claim_data_dir

    rdb, data_dir = Path(rdb), Path(data_dir).resolve()
    if not rdb.is_file():
        raise BackupError(f"no backup file {rdb}")
    if rdb.name.endswith(".part"):  # whole or not, it never ended as a backup
        raise BackupError(f"{rdb} is no backup but what a backup cut short left (`loop "
                          "backup` writes into a .part file and gives it the backup's name "
                          "only once it is whole): restore a backup that ended with "
                          "`backed up ...`; nothing was restored")
    version = rdb_version(rdb)
    if version > EMBEDDED_RDB_VERSION:
        raise BackupError(
            f"{rdb} was taken from a Redis 7 or newer (snapshot format {version}); the "
            f"embedded Redis (6.2) reads format {EMBEDDED_RDB_VERSION} and older. Restore it "
            "into a Redis 7, as the README's docker compose section shows")
    redis_dir, staging = data_dir / "redis", data_dir / RESTORING_DIR
    _refuse_data(data_dir, redis_dir)
    made = not data_dir.exists()
    try:
        lock = claim_data_dir(data_dir, "", "loop restore")
    except DataDirBusy as exc:
        raise BackupError(str(exc)) from None
    done = False
    try:
        _refuse_data(data_dir, redis_dir)  # again, now that no one else holds it
        _end_orphaned_rewrite(staging)  # what a restore cut short left
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        staged = staging / "loop.db"
        shutil.copyfile(rdb, staged)
        staged.chmod(0o600)
        try:
            # loaded from the snapshot, then written out as the append-only file, which
            # is what the embedded Redis loads from (it ignores a snapshot beside it)
            proc, url = start_redis(staging, "--appendonly", "no")
        except BackupError as exc:
            raise BackupError(f"{rdb} could not be loaded: it is cut short or damaged "
                              f"({exc}); nothing was restored: restore a whole backup "
                              "(a backup that ended with `backed up ...`)") from None
        try:
            client = redis.Redis.from_url(url)
            loaded = key_counts(client)
            client.config_set("appendonly", "yes")
            _wait_rewritten(client, staging)
        finally:
            stop_redis(proc, url)
        staged.unlink()
        proc, url = start_redis(staging)  # as loop serve will: from the new file
        try:
            client = redis.Redis.from_url(url)
            back = key_counts(client)
        finally:
            stop_redis(proc, url)
        if back != loaded:
            raise BackupError(f"the restored data directory holds {back[0]:,} keys, "
                              f"{back[2]:,} answers where the backup has {loaded[0]:,}, "
                              f"{loaded[2]:,} (keys that do not expire): keep the backup, "
                              "and report this")
        redis_dir.mkdir(mode=0o700, exist_ok=True)
        os.replace(staging / AOF_NAME, redis_dir / AOF_NAME)  # whole, or not there
        done = True
        shutil.rmtree(staging, ignore_errors=True)
        return Snapshot(data_dir, size(redis_dir), *back)
    finally:
        if not done:
            shutil.rmtree(staging, ignore_errors=True)
        lock.close()
        if not done and made:  # leave no empty data directory to start on by mistake
            for leftover in (data_dir / "serve.lock", redis_dir, data_dir):
                with contextlib.suppress(OSError):
                    leftover.rmdir() if leftover.is_dir() else leftover.unlink()


def _end_orphaned_rewrite(folder: Path) -> None:
    """Kill the append-only-file writer a killed restore's Redis left running: a
    forked child (``redis-aof-rewrite``, named in its ``temp-rewriteaof-<pid>.aof``)
    outlives its killed Redis until it has written the whole file."""
    for f in folder.glob("temp-rewriteaof-*.aof"):
        pid = f.stem.rpartition("-")[2]
        try:
            if pid.isdigit() and Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                    b"redis-aof-rewrite"):
                os.kill(int(pid), signal.SIGKILL)
        except OSError:  # gone already
            pass


def _refuse_data(data_dir: Path, redis_dir: Path) -> None:
    from loop.service.aof import AOF_NAME

    held = [p.name for p in (redis_dir / AOF_NAME, redis_dir / "loop.db") if p.exists()]
    if held:
        raise BackupError(f"{data_dir} holds data already ({', '.join(held)} in {redis_dir}): "
                          "restore into a new --data-dir, or move this one away first")


def _wait_rewritten(client: Any, folder: Path, timeout: float = 3600.0) -> None:
    """Wait until Redis has written its append-only file after ``appendonly yes``.
    A failed write is an error at once: Redis tries again and again (a disk without
    room for the file held a restore for good)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if info.get("aof_last_bgrewrite_status") == "err":  # "ok" until a write failed
            free = shutil.disk_usage(folder).free
            raise BackupError(f"Redis could not write the append-only file into {folder} "
                              f"({free / 2**20:.1f} MB free there: is the disk full?); "
                              "nothing was restored")
        if (info.get("aof_enabled") == 1 and not info.get("aof_rewrite_in_progress")
                and not info.get("aof_rewrite_scheduled")):
            return
        time.sleep(0.05)
    raise BackupError(f"writing the append-only file took longer than {timeout:.0f} s")


