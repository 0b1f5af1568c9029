"""Metrics history, recent jobs and small values.

* ``<p>:metrics`` list of JSON points ``{id, n_gold, label_model, end_model, at,
  ...}``, appended by each recalibration; the end-model retrain that follows fills
  in its score on the point with the same ``id`` (one Lua script: atomic); past
  :data:`METRICS_CAP` points the older ones are thinned (:meth:`HistoryMixin.append_metric`);
* ``<p>:jobs`` list of recent job ids someone asked for (newest first, 50 kept);
  ``<p>:jobs:auto`` the same for automatic ones (recalibrations after answers,
  refills), so a busy queue's runs never push a requested export or apply run out;
* ``<p>:val:<name>`` small JSON values (``last_recalibrated_at``, ...);
* ``<p>:exports`` the keys of the export files kept (newest first; see
  :meth:`HistoryMixin.keep_export`).
"""

from __future__ import annotations

import json
from typing import Any

from loop.storage.base import StoreBase

#: Most metrics points a project keeps in Redis (120 bytes each) ...
METRICS_CAP = 4000
#: ... of which the newest are never thinned (a retrain looks for its point among
#: the newest 100; ``/metrics`` shows the newest 200 whole).
METRICS_RECENT = 1000


class HistoryMixin(StoreBase):
    """Metrics history, recent jobs and named values."""

    def append_metric(self, pid: str, point: dict[str, Any]) -> int:
        """Append ``point``; past :data:`METRICS_CAP` points every second one of
        those before the newest :data:`METRICS_RECENT` is dropped, the first kept
        (a soak trial's project gained 1,000 points an hour, kept for ever).
        Returns the number of points kept."""
        return int(self.scripts.append_metric(
            [self._k(pid, "metrics")], [json.dumps(point), METRICS_CAP, METRICS_RECENT]))

    def update_metric(self, pid: str, point_id: str, fields: dict[str, Any]) -> bool:
        """Merge ``fields`` into the point ``point_id`` (atomic); False if not found."""
        return bool(self.scripts.update_metric([self._k(pid, "metrics")],
                                               [point_id, json.dumps(fields)]))

    def metrics_history(self, pid: str, last: int | None = None) -> list[dict[str, Any]]:
        """Every point, oldest first; ``last``: only the newest ``last`` (a soak
        trial's project had 1,000 points an hour, each read whole by every home-page
        line and retrain)."""
        start = 0 if last is None else -last
        return [json.loads(x) for x in self.r.lrange(self._k(pid, "metrics"), start, -1)]

    def record_job(self, pid: str, job_id: str, auto: bool = False) -> None:
        key = self._k(pid, "jobs", "auto") if auto else self._k(pid, "jobs")
        with self.r.pipeline(transaction=True) as p:
            p.lpush(key, job_id)
            p.ltrim(key, 0, 49)
            p.execute()

    def keep_export(self, pid: str, key: str, data: bytes, keep: int, ttl: int) -> None:
        """Store an export file at ``key`` for ``ttl`` seconds; the project's older
        ones beyond the newest ``keep`` are deleted (each was kept whole in Redis
        memory and its append-only file: five exports of 200,000 items took 311 MB).
        The same ``key`` stored again (a frozen run that resumed after its re-run)
        is listed once: else it took two of the ``keep`` places."""
        lst = self._k(pid, "exports")

        def writes(p: Any) -> None:
            p.set(key, data, ex=ttl)
            p.lrem(lst, 0, key)
            p.lpush(lst, key)
            p.lrange(lst, keep, -1)
            p.ltrim(lst, 0, keep - 1)
            p.expire(lst, ttl)

        # a project deleted while its export ran keeps no file
        old = self._while_project(pid, writes, gone=f"project {pid!r} was deleted while "
                                  "its export ran; its file is not kept")[3]
        if old:
            self.r.delete(*old)

    def recent_jobs(self, pid: str, auto: bool | None = None) -> list[str]:
        """Ids of recent jobs, newest first within each list: requested ones
        (``auto=False``), automatic ones (``True``) or both (``None``: requested
        first)."""
        keys = [self._k(pid, "jobs")] if auto is not True else []
        keys += [self._k(pid, "jobs", "auto")] if auto is not False else []
        return [x.decode() for k in keys for x in self.r.lrange(k, 0, -1)]

    def set_value(self, pid: str, name: str, value: Any) -> None:
        self.r.set(self._k(pid, "val", name), json.dumps(value))

    def get_value(self, pid: str, name: str, default: Any = None) -> Any:
        raw = self.r.get(self._k(pid, "val", name))
        return default if raw is None else json.loads(raw)
