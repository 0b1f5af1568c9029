"""What every part of :class:`~loop.storage.RedisStore` shares: the client and key names.

Every key starts with ``loop:``; a project's keys with ``loop:p:<pid>:`` (``<p>``
in the docstrings of the parts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from loop.storage.scripts import Scripts

#: The format of everything this version stores, as a whole (``loop:format``). Raise
#: it with any change that a version before could misread (a new field in a record
#: the old code parses strictly, a key read another way), and say in the README's
#: upgrade notes what it changed. 3: the first version that writes it. 4: annotator
#: tokens with a lifetime (``expires_at``, which 3's versions do not read: an expired
#: token worked again after a downgrade, upgrade trial) and apply-run unit jobs of
#: several units (a 3 worker failed each with a TypeError).
FORMAT = 4
_FORMAT_KEY = "loop:format"


class NewerData(RuntimeError):
    """The Redis holds data written by a newer ``loop`` than this one."""


def claim_format(client: Any) -> str | None:
    """Check the Redis's data format against this version's, and mark it as this
    version's. :class:`NewerData` when a newer version wrote it (upgrade trial: a
    version a few days older, started on a newer one's data, served 500s, failed
    every apply run of a rule the newer one had saved, and let a rule replace ten
    uploaded vote columns without a word); None when checked, or why it could not
    be (Redis down, or refusing writes: full, or unable to save), for a later start
    to check it."""
    from redis.exceptions import RedisError

    try:
        _claim_format(client)
    except (RedisError, OSError) as exc:
        return f"could not check the data format of Redis ({exc})"
    return None


def _claim_format(client: Any) -> None:
    from redis.exceptions import WatchError

    while True:
        with client.pipeline(transaction=True) as p:
            try:
                p.watch(_FORMAT_KEY)
                raw = p.get(_FORMAT_KEY)
                try:
                    had = int(raw) if raw else 0
                except ValueError:  # no version of loop writes that
                    p.unwatch()
                    raise NewerData(f"this Redis's data format mark ({_FORMAT_KEY}) is "
                                    f"{raw!r}, which no version of loop writes: set it to "
                                    "the version's that wrote the data") from None
                if had > FORMAT:
                    p.unwatch()
                    raise NewerData(
                        f"this Redis holds data written by a newer loop (data format {had}; "
                        f"this one reads {FORMAT} and older): run that version or a newer "
                        "one. Going back to an older version is not supported; its data "
                        "stays as it is")
                if had < FORMAT:
                    p.multi()
                    p.set(_FORMAT_KEY, FORMAT)
                    p.execute()
                return
            except WatchError:
                continue


def is_oom(exc: Exception) -> bool:
    """Whether Redis refused a command for its maxmemory (redis-py raises
    OutOfMemoryError for a command; in a transaction or a script it is a
    ResponseError naming OOM)."""
    from redis.exceptions import OutOfMemoryError

    return isinstance(exc, OutOfMemoryError) or "OOM" in str(exc) or "maxmemory" in str(exc)


@contextmanager
def unless_full() -> Iterator[None]:
    """Run the block; if Redis refuses it for its maxmemory (:func:`is_oom`), go on
    after it as if it had not run: for writes that are a cache or a courtesy, and
    reads that have another way (:meth:`StoreBase.read_at_once`)."""
    from redis.exceptions import ResponseError

    try:
        yield
    except ResponseError as exc:
        if not is_oom(exc):
            raise


class StoreBase:
    """The Redis client (bytes, not decoded) and the project key builder."""

    def __init__(self, client: Any) -> None:
        self.r = client
        self.scripts = Scripts(client)

    def _k(self, pid: str, *parts: str) -> str:
        return ":".join(("loop", "p", pid, *parts))

    @staticmethod
    def project_key(pid: str) -> str:
        """The key of project ``pid``'s record (gone once the project is deleted)."""
        return f"loop:project:{pid}"

    def _watch_project(self, pipe: Any, pid: str, *keys: str, gone: str | None = None,
                       ) -> None:
        """Inside a WATCH transaction: watch the project's record (and ``keys``) and
        raise :class:`ProjectNotFound` (saying ``gone``) if it is gone. A write checked
        this way is not acknowledged for a project deleted a moment before, and then
        lost with it (operator's trial: rules and guidelines saved just after a delete
        got 201s)."""
        pipe.watch(self.project_key(pid), *keys)
        if not pipe.exists(self.project_key(pid)):
            pipe.unwatch()
            raise self.project_gone(pid, gone)

    @staticmethod
    def project_gone(pid: str, message: str | None = None) -> Exception:
        """The :class:`ProjectNotFound` of a project deleted meanwhile."""
        from loop.errors import ProjectNotFound

        return ProjectNotFound(message or f"no project {pid!r} (it was deleted)")

    @staticmethod
    def alike_name(pipe: Any, key: str, name: str, besides: str) -> str | None:
        """A field of hash ``key`` other than ``besides`` whose name differs from
        ``name`` only in case or Unicode form (:func:`~loop.core.text.name_key`), or
        None: two such rules or annotators read as one on every page and in exports."""
        from loop.core.text import alike

        return alike(name, (f for f in (x.decode() for x in pipe.hkeys(key)) if f != besides))

    def read_at_once(self, reads: Callable[[Any], object]) -> list[Any]:
        """The replies of the reads ``reads`` queues on a pipeline, taken at one moment
        (MULTI/EXEC: no write falls between them). A full Redis (maxmemory) refuses
        every command queued in a transaction, reads included (operator's trial: the
        projects list, /metrics and /queue/me were 503s "nothing was stored" while
        Redis was full, the home page and dashboard dark when most needed); then they
        are read in one pipeline without the transaction: a full Redis stores no
        answer or upload between them either."""
        with unless_full(), self.r.pipeline(transaction=True) as p:
            reads(p)
            return list(p.execute())
        with self.r.pipeline(transaction=False) as p:
            reads(p)
            return list(p.execute())

    def _while_project(self, pid: str, writes: Callable[[Any], None],
                       gone: str | None = None) -> list[Any]:
        """Run the commands ``writes`` queues on a pipeline as one transaction, only
        while project ``pid`` exists (:meth:`_watch_project`; tried again if it
        changed meanwhile); returns the commands' replies."""
        from redis.exceptions import WatchError

        with self.r.pipeline(transaction=True) as p:
            while True:
                try:
                    self._watch_project(p, pid, gone=gone)
                    p.multi()
                    writes(p)
                    return list(p.execute())
                except WatchError:
                    continue

    def get_project(self, pid: str) -> dict[str, Any]:  # pragma: no cover - ProjectsMixin's
        raise NotImplementedError

    def answers_per_item(self, pid: str) -> int:  # pragma: no cover - ProjectsMixin's
        raise NotImplementedError
