"""Several answers per item (a project's ``answers_per_item`` = k > 1), in Redis.

Used by :class:`loop.storage.redis_queue.RedisQueueMixin` only when k > 1; with
k = 1 none of these keys is written and the single-answer scripts run unchanged.
Extra keys (``<p>`` = ``loop:p:<pid>``):

* ``<p>:answers`` hash item -> JSON list of answer records
  ``{label, annotator, at, lease}``, oldest first (one per annotator);
* ``<p>:gold`` (shared with k = 1) hash item -> the *majority* record of the item's
  answers so far, plus ``n_answers``; ties go to the label answered first. An
  item is gold (seen by the models) from its first answer on;
* ``<p>:done`` hash item -> number of answers, for items with k answers: never
  queued or leased again;
* ``<p>:pending`` zset item -> priority, for items with 1..k-1 answers: merged
  back into the queue by every ``replace_queue``, so a refill never drops them;
* ``<p>:answered:<annotator>`` set of items this annotator has answered: never
  offered to them again (like their skips).

Leases stay exclusive: the lease script is the single-answer one (one lease per
item at a time), with "answered by me" treated like "skipped by me" and
``<p>:done`` in place of ``<p>:gold``. An answer releases the lease and, below k
answers, puts the item back in the queue at its priority.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from loop.errors import ItemNotFound, LeaseConflict

# Majority record of a list of answers (ties: the label answered first).
_MAJORITY = """
local function majority(list)
  local count, first = {}, {}
  for i, a in ipairs(list) do
    local c = a.label
    count[c] = (count[c] or 0) + 1
    if not first[c] then first[c] = i end
  end
  local best = nil
  for c, n in pairs(count) do
    if best == nil or n > count[best] or (n == count[best] and first[c] < first[best]) then
      best = c
    end
  end
  local g = list[first[best]]
  return cjson.encode({label = best, annotator = g.annotator, at = g.at, lease = g.lease,
                       n_answers = #list})
end
"""

# KEYS: answers leasez leaseh queue log hist since_recal n n:today row gold done pending
#       answered:<annotator>;  ARGV: item lease record annotator k
ANSWER_MULTI_LUA = _MAJORITY + """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local list = {}
if raw then list = cjson.decode(raw) end
for _, a in ipairs(list) do
  if a.annotator == ARGV[4] then
    if a.lease == ARGV[2] then return {'duplicate', '0'} end
    return {'conflict', 'you already answered item ' .. ARGV[1]}
  end
end
local l = redis.call('HGET', KEYS[3], ARGV[1])
if not l then
  if redis.call('HEXISTS', KEYS[10], ARGV[1]) == 0 then return {'notfound', '0'} end
  return {'conflict', 'no active lease on item ' .. ARGV[1] .. ' (expired?)'}
end
local d = cjson.decode(l)
if d.id ~= ARGV[2] or d.annotator ~= ARGV[4] then
  return {'conflict', 'item ' .. ARGV[1] .. ' is leased by someone else'}
end
list[#list + 1] = cjson.decode(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
redis.call('HSET', KEYS[11], ARGV[1], majority(list))
redis.call('XADD', KEYS[5], '*', 'event', 'answer', 'item', ARGV[1], 'record', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[14], ARGV[1])
if #list >= tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[12], ARGV[1], #list)
  redis.call('ZREM', KEYS[13], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[13], d.priority, ARGV[1])
  redis.call('ZADD', KEYS[4], d.priority, ARGV[1])
end
redis.call('LPUSH', KEYS[6], ARGV[1])
redis.call('LTRIM', KEYS[6], 0, 9999)
redis.call('INCR', KEYS[8])
redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], 172800)
return {'stored', tostring(redis.call('INCR', KEYS[7]))}
"""

# KEYS: hist answers log queue n n:today gold done pending answered:<annotator> leasez
# ARGV: annotator midnight
UNDO_MULTI_LUA = _MAJORITY + """
local id = redis.call('LPOP', KEYS[1])
if not id then return false end
local raw = redis.call('HGET', KEYS[2], id)
local keep, mine = {}, nil
if raw then
  for _, a in ipairs(cjson.decode(raw)) do
    if mine == nil and a.annotator == ARGV[1] then mine = a else keep[#keep + 1] = a end
  end
end
redis.call('XADD', KEYS[3], '*', 'event', 'undo', 'item', id, 'annotator', ARGV[1])
if mine == nil then return id end
local at = tonumber(mine.at)
if at and at >= tonumber(ARGV[2]) then redis.call('DECR', KEYS[6]) end
redis.call('DECR', KEYS[5])
redis.call('SREM', KEYS[10], id)
redis.call('HDEL', KEYS[8], id)
local top = redis.call('ZREVRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local p = 1e9
if #top > 0 then p = tonumber(top[2]) + 1 end
if #keep == 0 then
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[7], id)
  redis.call('ZREM', KEYS[9], id)
else
  redis.call('HSET', KEYS[2], id, cjson.encode(keep))
  redis.call('HSET', KEYS[7], id, majority(keep))
  redis.call('ZADD', KEYS[9], p, id)
end
if not redis.call('ZSCORE', KEYS[11], id) then redis.call('ZADD', KEYS[4], p, id) end
return id
"""


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class RedisMultiAnswerMixin:
    """Answer and undo for projects with ``answers_per_item`` > 1."""

    r: Any

    def _k(self, pid: str, *parts: str) -> str:
        return ":".join(("loop", "p", pid, *parts))

    def _multi_scripts(self) -> dict[str, Any]:
        if not hasattr(self, "_multi_script_cache"):
            self._multi_script_cache = {
                "answer": self.r.register_script(ANSWER_MULTI_LUA),
                "undo": self.r.register_script(UNDO_MULTI_LUA),
            }
        return self._multi_script_cache

    def _store_answer_multi(
        self, pid: str, annotator: str, item_id: str, label: int, lease_id: str, k_answers: int
    ) -> tuple[bool, int]:
        k = self._k
        rec = json.dumps({"label": int(label), "annotator": annotator, "at": time.time(),
                          "lease": lease_id})
        keys = [k(pid, "answers"), k(pid, "leasez"), k(pid, "leaseh"), k(pid, "queue"),
                k(pid, "log"), k(pid, "hist", annotator), k(pid, "since_recal"),
                k(pid, "n", annotator), k(pid, "n", annotator, _today()), k(pid, "row"),
                k(pid, "gold"), k(pid, "done"), k(pid, "pending"),
                k(pid, "answered", annotator)]
        status, extra = (x.decode() for x in self._multi_scripts()["answer"](
            keys, [item_id, lease_id, rec, annotator, k_answers]))
        if status == "notfound":
            raise ItemNotFound(f"no item {item_id!r}")
        if status == "conflict":
            raise LeaseConflict(extra)
        return status == "duplicate", int(extra)

    def _undo_multi(self, pid: str, annotator: str) -> str | None:
        k = self._k
        keys = [k(pid, "hist", annotator), k(pid, "answers"), k(pid, "log"), k(pid, "queue"),
                k(pid, "n", annotator), k(pid, "n", annotator, _today()), k(pid, "gold"),
                k(pid, "done"), k(pid, "pending"), k(pid, "answered", annotator),
                k(pid, "leasez")]
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        out = self._multi_scripts()["undo"](keys, [annotator, midnight.timestamp()])
        return out.decode() if out else None

    def answers(self, pid: str) -> dict[str, list[dict[str, Any]]]:
        """Every item's individual answers (k > 1 projects; empty otherwise):
        item id -> ``[{label, annotator, at, lease}, ...]``, oldest first."""
        return {a.decode(): json.loads(b)
                for a, b in self.r.hgetall(self._k(pid, "answers")).items()}
