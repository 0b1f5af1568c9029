"""What every part of :class:`~loop.storage.RedisStore` shares: the client and key names.

Every key starts with ``loop:``; a project's keys with ``loop:p:<pid>:`` (``<p>``
in the docstrings of the parts).
"""

from __future__ import annotations

from typing import Any

from loop.storage.scripts import Scripts


class StoreBase:
    """The Redis client (bytes, not decoded) and the project key builder."""

    def __init__(self, client: Any) -> None:
        self.r = client
        self.scripts = Scripts(client)

    def _k(self, pid: str, *parts: str) -> str:
        return ":".join(("loop", "p", pid, *parts))

    def get_project(self, pid: str) -> dict[str, Any]:  # pragma: no cover - ProjectsMixin's
        raise NotImplementedError

    def answers_per_item(self, pid: str) -> int:  # pragma: no cover - ProjectsMixin's
        raise NotImplementedError
