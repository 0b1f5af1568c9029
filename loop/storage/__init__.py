"""Storage: the only code touching Redis. Redis is the system of record.

:class:`RedisStore` is one object over one client, made of a part per concern:
projects and annotators (:mod:`~loop.storage.projects`), items and the pool of
unlabeled items (:mod:`~loop.storage.items`), ``L``, probabilities and features
(:mod:`~loop.storage.matrices`), the queue and answers
(:mod:`~loop.storage.queue`, Lua scripts in ``lua/``), metrics and jobs
(:mod:`~loop.storage.history`), locks and flags (:mod:`~loop.storage.coordination`),
rules (:mod:`~loop.storage.rules`).
"""

from __future__ import annotations

from typing import Any

from loop.storage.coordination import CoordinationMixin, KeepAlive
from loop.storage.history import HistoryMixin
from loop.storage.items import ItemsMixin
from loop.storage.matrices import MatricesMixin
from loop.storage.projects import ProjectsMixin
from loop.storage.queue import QueueMixin
from loop.storage.rules import RulesMixin


class RedisStore(ProjectsMixin, ItemsMixin, MatricesMixin, QueueMixin, HistoryMixin,
                 CoordinationMixin, RulesMixin):
    """All persistent state of ``loop``, over one ``redis.Redis`` (bytes, not decoded)."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)


__all__ = ["KeepAlive", "RedisStore"]
