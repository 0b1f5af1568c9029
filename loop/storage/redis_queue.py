"""Gold answers, leases and the expert queue in Redis, made atomic by Lua scripts.

Keys (``<p>`` = ``loop:p:<pid>``):

* ``<p>:queue`` zset item -> priority: items free to hand out;
* ``<p>:leasez`` zset item -> expiry (unix s) and ``<p>:leaseh`` hash item ->
  ``{id, annotator, priority, expires_at}``: leased items (out of the queue);
* ``<p>:gold`` hash item -> ``{label, annotator, at, lease}``; ``<p>:log`` stream
  of every answer / undo (append-only);
* ``<p>:hist:<annotator>`` list (newest first), ``<p>:skips:<annotator>`` set,
  ``<p>:n:<annotator>`` and ``<p>:n:<annotator>:<yyyy-mm-dd>`` answer counters;
* ``<p>:since_recal`` answers since the last recalibration started.

Each of ``lease_next``, ``store_answer``, ``skip`` and ``undo`` is one Lua
script, so it runs atomically: two annotators never lease the same item, and a
repeated answer is stored once. With ``appendfsync always`` Redis fsyncs the
script's writes before it replies, so an acknowledged answer survives kill -9.

Projects with ``answers_per_item`` k > 1 use the variants and extra keys of
:mod:`loop.storage.redis_multi` (k = 1 runs exactly the scripts below).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from loop.errors import ItemNotFound, LeaseConflict, ProjectNotFound
from loop.storage.redis_multi import RedisMultiAnswerMixin

# Return expired leases to the queue, then lease the best item this annotator
# has not skipped. Stale queue entries (answered or leased) are dropped. The reply
# also carries the item JSON, its row, queue reason, L row and proba rows (read
# in the same atomic call: one round trip per /next). The L chunk key is built
# from ARGV[5] inside the script, so this needs a standalone Redis (not Cluster).
NEXT_LUA = """
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do
  local l = redis.call('HGET', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  if l and redis.call('HEXISTS', KEYS[4], id) == 0 then
    redis.call('ZADD', KEYS[1], cjson.decode(l).priority, id)
  end
end
local kept = 0
while true do
  local ids = redis.call('ZREVRANGE', KEYS[1], kept, kept + 49, 'WITHSCORES')
  if #ids == 0 then return false end
  for i = 1, #ids, 2 do
    local id = ids[i]
    if redis.call('HEXISTS', KEYS[4], id) == 1 or redis.call('ZSCORE', KEYS[2], id) then
      redis.call('ZREM', KEYS[1], id)
    elseif redis.call('SISMEMBER', KEYS[5], id) == 1 then
      kept = kept + 1
    else
      redis.call('ZREM', KEYS[1], id)
      local exp = now + tonumber(ARGV[2])
      redis.call('ZADD', KEYS[2], exp, id)
      redis.call('HSET', KEYS[3], id, cjson.encode({id = ARGV[3], annotator = ARGV[4],
        priority = tonumber(ids[i + 1]), expires_at = exp}))
      -- everything the /next response needs, in the same round trip
      local item = redis.call('HGET', KEYS[6], id) or ''
      local row = redis.call('HGET', KEYS[7], id)
      local reason = redis.call('HGET', KEYS[8], id) or ''
      local lrow, em, lm, version = '', '', '', ''
      local meta = redis.call('GET', KEYS[9])
      if row then
        local r = tonumber(row)
        local k = tonumber(ARGV[6])
        em = redis.call('GETRANGE', KEYS[10], r * k * 4, (r + 1) * k * 4 - 1)
        lm = redis.call('GETRANGE', KEYS[11], r * k * 4, (r + 1) * k * 4 - 1)
        if meta then
          local m = cjson.decode(meta)
          version = tostring(m.applied_at)
          if r < m.n_items then
            local a = (r % m.chunk_size) * m.n_lfs
            lrow = redis.call('GETRANGE', ARGV[5] .. math.floor(r / m.chunk_size),
                              a, a + m.n_lfs - 1)
          end
        end
      end
      return {id, ARGV[3], tostring(exp), item, row or '', reason, lrow, em, lm, version,
              redis.call('ZCARD', KEYS[1])}
    end
  end
end
"""

# k > 1: the same script, where KEYS[4] is ``<p>:done`` (items with k answers) instead
# of ``<p>:gold``, and items this annotator answered (KEYS[12]) are passed over like
# the ones they skipped.
_SKIPPED = "elseif redis.call('SISMEMBER', KEYS[5], id) == 1 then"
NEXT_MULTI_LUA = NEXT_LUA.replace(_SKIPPED, "elseif redis.call('SISMEMBER', KEYS[5], id) == 1"
                                  " or redis.call('SISMEMBER', KEYS[12], id) == 1 then")
if NEXT_MULTI_LUA.count("KEYS[12]") != 1:  # pragma: no cover - guards the text edit above
    raise RuntimeError("NEXT_MULTI_LUA: lease script changed; update the k > 1 variant")

ANSWER_LUA = """
local g = redis.call('HGET', KEYS[1], ARGV[1])
if g then
  if cjson.decode(g).lease == ARGV[2] then return {'duplicate', '0'} end
  return {'conflict', 'item ' .. ARGV[1] .. ' was already answered'}
end
local l = redis.call('HGET', KEYS[3], ARGV[1])
if not l then
  if redis.call('HEXISTS', KEYS[10], ARGV[1]) == 0 then return {'notfound', '0'} end
  return {'conflict', 'no active lease on item ' .. ARGV[1] .. ' (expired?)'}
end
if cjson.decode(l).id ~= ARGV[2] then
  return {'conflict', 'item ' .. ARGV[1] .. ' is leased by someone else'}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('XADD', KEYS[5], '*', 'event', 'answer', 'item', ARGV[1], 'record', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('LPUSH', KEYS[6], ARGV[1])
redis.call('LTRIM', KEYS[6], 0, 9999)
redis.call('INCR', KEYS[8])
redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], 172800)
return {'stored', tostring(redis.call('INCR', KEYS[7]))}
"""

SKIP_LUA = """
local l = redis.call('HGET', KEYS[2], ARGV[1])
if not l then return 'no active lease on item ' .. ARGV[1] end
local d = cjson.decode(l)
if d.id ~= ARGV[2] then return 'item ' .. ARGV[1] .. ' is leased by someone else' end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], d.priority, ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return false
"""

UNDO_LUA = """
local id = redis.call('LPOP', KEYS[1])
if not id then return false end
local rec = redis.call('HGET', KEYS[2], id)
if rec then
  local at = tonumber(cjson.decode(rec)['at'])
  if at and at >= tonumber(ARGV[2]) then redis.call('DECR', KEYS[6]) end
end
redis.call('HDEL', KEYS[2], id)
redis.call('XADD', KEYS[3], '*', 'event', 'undo', 'item', id, 'annotator', ARGV[1])
local top = redis.call('ZREVRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local p = 1e9
if #top > 0 then p = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[4], p, id)
redis.call('DECR', KEYS[5])
return id
"""


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class RedisQueueMixin(RedisMultiAnswerMixin):
    """Queue, lease and gold-answer operations of :class:`loop.storage.RedisStore`."""

    r: Any

    def get_project(self, pid: str) -> dict[str, Any]:  # pragma: no cover - RedisStore's
        raise NotImplementedError

    def answers_per_item(self, pid: str) -> int:
        """The project's k (1 for projects created before the setting, or unknown ones)."""
        try:
            return int(self.get_project(pid).get("answers_per_item", 1))
        except ProjectNotFound:
            return 1

    def _scripts(self) -> dict[str, Any]:
        if not hasattr(self, "_script_cache"):
            self._script_cache = {
                n: self.r.register_script(s)
                for n, s in [("next", NEXT_LUA), ("answer", ANSWER_LUA),
                             ("skip", SKIP_LUA), ("undo", UNDO_LUA),
                             ("next_multi", NEXT_MULTI_LUA)]
            }
        return self._script_cache

    def lease_next(self, pid: str, annotator: str, ttl: float) -> tuple[str, str, float] | None:
        """Atomically lease the highest-priority free item: ``(item_id, lease_id, expires_at)``."""
        out = self.lease_next_full(pid, annotator, ttl)
        return None if out is None else (out["item_id"], out["lease_id"], out["expires_at"])

    def lease_next_full(
        self, pid: str, annotator: str, ttl: float, n_classes: int = 2
    ) -> dict[str, Any] | None:
        """:meth:`lease_next` plus what the ``/next`` response needs, in one round trip.

        Returns ``{item_id, lease_id, expires_at, item, row, reason, L_row, proba,
        L_version, remaining}``: ``item`` the stored JSON (None if missing), ``row``
        its matrix row (None if unknown), ``L_row`` (n_lfs,) int8 or None, ``proba``
        ``{"end_model": (k,) float32 | None, "label_model": ...}``, ``L_version``
        the ``applied_at`` of the L meta (None before LFs are applied) and
        ``remaining`` the queue length after this lease.
        """
        k = self._k
        multi = self.answers_per_item(pid) > 1
        keys = [k(pid, "queue"), k(pid, "leasez"), k(pid, "leaseh"),
                k(pid, "done" if multi else "gold"),
                k(pid, "skips", annotator), k(pid, "items"), k(pid, "row"), k(pid, "reason"),
                k(pid, "L", "meta"), k(pid, "proba", "end_model"),
                k(pid, "proba", "label_model")]
        if multi:
            keys.append(k(pid, "answered", annotator))
        out = self._scripts()["next_multi" if multi else "next"](
            keys, [time.time(), ttl, uuid.uuid4().hex, annotator, k(pid, "L", ""), n_classes])
        if not out:
            return None
        iid, lid, exp, item, row, reason, lrow, em, lm, version, remaining = out
        size = 4 * n_classes
        return {
            "item_id": iid.decode(), "lease_id": lid.decode(), "expires_at": float(exp),
            "item": json.loads(item) if item else None,
            "row": int(row) if row else None,
            "reason": reason.decode() or None,
            "L_row": np.frombuffer(lrow, dtype=np.int8) if lrow else None,
            "proba": {"end_model": np.frombuffer(em, np.float32) if len(em) == size else None,
                      "label_model": np.frombuffer(lm, np.float32) if len(lm) == size else None},
            "L_version": version.decode() or None,
            "remaining": int(remaining),
        }

    def store_answer(
        self, pid: str, annotator: str, item_id: str, label: int, lease_id: str
    ) -> tuple[bool, int]:
        """Store a gold answer once: ``(duplicate, answers_since_recalibration)``.

        One round trip. Raises :class:`ItemNotFound` for an unknown item and
        :class:`LeaseConflict` when the lease is not (or no longer) this one's. A
        lease past its expiry is still accepted until ``lease_next`` hands the
        item to someone else. With k > 1 answers per item, each annotator's answer
        is kept (once), the gold label is their majority and the item goes back
        to the queue until k annotators have answered it."""
        n_answers = self.answers_per_item(pid)
        if n_answers > 1:
            return self._store_answer_multi(pid, annotator, item_id, label, lease_id, n_answers)
        k = self._k
        rec = json.dumps({"label": int(label), "annotator": annotator, "at": time.time(),
                          "lease": lease_id})
        keys = [k(pid, "gold"), k(pid, "leasez"), k(pid, "leaseh"), k(pid, "queue"),
                k(pid, "log"), k(pid, "hist", annotator), k(pid, "since_recal"),
                k(pid, "n", annotator), k(pid, "n", annotator, _today()), k(pid, "row")]
        status, extra = (x.decode() for x in self._scripts()["answer"](
            keys, [item_id, lease_id, rec]))
        if status == "notfound":
            raise ItemNotFound(f"no item {item_id!r}")
        if status == "conflict":
            raise LeaseConflict(extra)
        return status == "duplicate", int(extra)

    def skip(self, pid: str, annotator: str, item_id: str, lease_id: str) -> None:
        """Give a leased item back; this annotator will not be offered it again."""
        k = self._k
        keys = [k(pid, "leasez"), k(pid, "leaseh"), k(pid, "queue"), k(pid, "skips", annotator)]
        err = self._scripts()["skip"](keys, [item_id, lease_id])
        if err:
            raise LeaseConflict(err.decode())

    def undo(self, pid: str, annotator: str) -> str | None:
        """Remove this annotator's last answer and put the item on top of the queue.

        With k > 1 answers per item only this annotator's answer is removed (the
        gold label becomes the majority of the others); if someone else holds a
        lease on the item it comes back when that lease ends."""
        if self.answers_per_item(pid) > 1:
            return self._undo_multi(pid, annotator)
        k = self._k
        keys = [k(pid, "hist", annotator), k(pid, "gold"), k(pid, "log"), k(pid, "queue"),
                k(pid, "n", annotator), k(pid, "n", annotator, _today())]
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        out = self._scripts()["undo"](keys, [annotator, midnight.timestamp()])
        return out.decode() if out else None

    def gold(self, pid: str) -> dict[str, dict[str, Any]]:
        """Every stored gold answer: item id -> ``{label, annotator, at, lease}``."""
        return {a.decode(): json.loads(b) for a, b in self.r.hgetall(self._k(pid, "gold")).items()}

    def answer_log(self, pid: str) -> list[dict[str, str]]:
        """The append-only answer log, oldest first."""
        return [{a.decode(): b.decode() for a, b in f.items()}
                for _, f in self.r.xrange(self._k(pid, "log"))]

    def lease_of(self, pid: str, item_id: str) -> dict[str, Any] | None:
        raw = self.r.hget(self._k(pid, "leaseh"), item_id)
        return json.loads(raw) if raw else None

    def replace_queue(
        self, pid: str, priorities: dict[str, float], reasons: dict[str, str]
    ) -> None:
        """Swap in a new queue in one transaction (leased and answered items are skipped
        by ``lease_next`` even if listed). With k > 1 answers per item, items that
        still need answers (``<p>:pending``) are merged in, at their priority."""
        multi = self.answers_per_item(pid) > 1
        with self.r.pipeline(transaction=True) as p:
            p.delete(self._k(pid, "queue"), self._k(pid, "reason"))
            if priorities:
                p.zadd(self._k(pid, "queue"), priorities)
            if multi:
                p.zunionstore(self._k(pid, "queue"),
                              [self._k(pid, "queue"), self._k(pid, "pending")], aggregate="MAX")
            if reasons:
                p.hset(self._k(pid, "reason"), mapping=reasons)
            p.execute()

    def add_audit(self, pid: str, item_ids: list[str]) -> None:
        """Remember items the queue drew at random (their answers are unbiased)."""
        if item_ids:
            self.r.sadd(self._k(pid, "audit"), *item_ids)

    def audit_ids(self, pid: str) -> set[str]:
        return {x.decode() for x in self.r.smembers(self._k(pid, "audit"))}

    def queue_size(self, pid: str) -> int:
        return int(self.r.zcard(self._k(pid, "queue")))

    def leased_ids(self, pid: str) -> set[str]:
        return {x.decode() for x in self.r.zrange(self._k(pid, "leasez"), 0, -1)}

    def reason(self, pid: str, item_id: str) -> str | None:
        raw = self.r.hget(self._k(pid, "reason"), item_id)
        return raw.decode() if raw else None

    def annotator_stats(self, pid: str, annotator: str) -> dict[str, Any]:
        k = self._k
        total, today = self.r.mget(k(pid, "n", annotator), k(pid, "n", annotator, _today()))
        hist = [x.decode() for x in self.r.lrange(k(pid, "hist", annotator), 0, 19)]
        return {"answers_total": int(total or 0), "answers_today": int(today or 0),
                "history": hist}

    def take_since_recal(self, pid: str) -> int:
        """Reset the answers-since-recalibration counter, returning its old value."""
        return int(self.r.getset(self._k(pid, "since_recal"), 0) or 0)

    def since_recal(self, pid: str) -> int:
        return int(self.r.get(self._k(pid, "since_recal")) or 0)
