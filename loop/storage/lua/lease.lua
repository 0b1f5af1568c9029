-- Lease the next item to an annotator (any answers_per_item k >= 1).
-- KEYS: 1 queue, 2 leasez, 3 leaseh, 4 done, 5 skips:<a>, 6 items, 7 row, 8 reason,
--       9 L:meta, 10 proba:end_model, 11 proba:label_model, 12 answered:<a>,
--       13 mine:<a>, 14 pool, 15 audit, 16 answers, 17 page_closed:<page> (its release
--       came: nothing more is leased to it), 18 copies, 19 annotators (last, for
--       _revoked.lua)
-- ARGV: 1 now, 2 ttl, 3 new lease id, 4 annotator, 5 n_classes, 6 JSON list of item
--       ids the caller already shows (never returned), 7 the asking page's id ('' for
--       none: the lease's `page`, so that page's release finds a lease whose answer
--       it never got), 8 token hash
-- Order: (1) expired leases go back to the queue; (2) a lease this annotator
-- already holds (page reload, second tab) is renewed and returned; (3) the best
-- queued item; (4) a random unlabeled item from the pool, when the ranked queue
-- has nothing for this annotator (marked as an exploration pick: a random draw);
-- (5) only then items this annotator skipped; (6) with nothing at all, the leases
-- of annotators whose token expired go back to the queue, which is tried again.
-- Items answered k times, answered or skipped by this annotator, or leased to anyone
-- are passed over.
-- Whether an item's answers are random gold (audit) is set by each lease until its
-- first answer: they are when it was served as an exploration pick (drawn at random
-- by the ranking it came from, or from the pool in (4)). A ranking draws many random
-- picks, and the next ranking may list one of them as an uncertain item; its answer
-- is then no random draw, so the lease, not the ranking, sets the mark.
local now, ttl, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
local page = ARGV[7] ~= '' and ARGV[7] or nil
if revoked(me) then return redis.error_reply('revoked') end
-- the asking page was closed (a /next on its way as its release overtook it): its
-- reply would go nowhere, and the item stay leased to nobody's screen (re-trial)
if page and redis.call('EXISTS', KEYS[17]) == 1 then return nil end
local shown = {}
for _, id in ipairs(cjson.decode(ARGV[6])) do shown[id] = true end

-- An expired lease's record stays in leaseh (it is no longer in leasez, so the item
-- is free to lease) until someone leases the item again: a late answer with it is
-- accepted while nobody else took the item (answer.lua).
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do
  local l = redis.call('HGET', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  if l and redis.call('HEXISTS', KEYS[4], id) == 0 then
    redis.call('ZADD', KEYS[1], cjson.decode(l).priority, id)
  end
end

local mine = redis.call('ZRANGE', KEYS[13], 0, -1)
for _, id in ipairs(mine) do
  local l = redis.call('HGET', KEYS[3], id)
  local d = l and cjson.decode(l)
  if not d or d.annotator ~= me then
    redis.call('ZREM', KEYS[13], id)
  elseif redis.call('HEXISTS', KEYS[4], id) == 1 then
    -- settled while held (the admin resolved it, a relabel broke its tie): the lease
    -- ends; renewed, it came back after every refused answer (fault trial)
    redis.call('ZREM', KEYS[13], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  elseif not shown[id] then
    local exp = now + ttl
    d.expires_at = exp
    d.page = page  -- the page renewing it holds it now
    redis.call('HSET', KEYS[3], id, cjson.encode(d))
    redis.call('ZADD', KEYS[2], exp, id)
    redis.call('ZADD', KEYS[13], exp, id)
    -- asked for the reason it was leased for (which its audit mark follows), though
    -- a new ranking dropped it or, the lease expired meanwhile and the item back in
    -- the queue, gave it another; leased again, so out of the queue
    redis.call('ZREM', KEYS[1], id)
    if d.reason then redis.call('HSET', KEYS[8], id, d.reason) end
    return payload(id, d.id, exp)
  end
end

local function lease(id, priority, random)
  local exp = now + ttl
  -- the writes a full Redis refuses (maxmemory) first, the removal last: a refused
  -- lease leaves the item where it was, not out of the queue and unleased
  redis.call('ZADD', KEYS[2], exp, id)
  redis.call('HSET', KEYS[3], id, cjson.encode({id = ARGV[3], annotator = me, page = page,
    priority = priority, expires_at = exp, reason = redis.call('HGET', KEYS[8], id) or nil}))
  redis.call('ZADD', KEYS[13], exp, id)
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HEXISTS', KEYS[16], id) == 0 then  -- no answer yet
    if random then
      redis.call('SADD', KEYS[15], id)
    else
      redis.call('SREM', KEYS[15], id)
    end
  end
  return payload(id, ARGV[3], exp)
end

local function free(id, allow_skipped)
  if shown[id] or redis.call('ZSCORE', KEYS[2], id) then return false end
  -- an exact copy of another item (taken out of the pool by the rankings; one back in
  -- it from an undone answer before the next ranking moves it again) is never asked
  if redis.call('SISMEMBER', KEYS[18], id) == 1 then return false end
  if redis.call('HEXISTS', KEYS[4], id) == 1 then return false end
  if redis.call('SISMEMBER', KEYS[12], id) == 1 then return false end
  if not allow_skipped and redis.call('SISMEMBER', KEYS[5], id) == 1 then return false end
  return true
end

-- (3) the ranked queue; entries answered k times or leased are dropped on the way
local function from_queue()
  local kept = 0
  while true do
    local ids = redis.call('ZREVRANGE', KEYS[1], kept, kept + 49, 'WITHSCORES')
    if #ids == 0 then return nil end
    for i = 1, #ids, 2 do
      local id = ids[i]
      if redis.call('HEXISTS', KEYS[4], id) == 1 or redis.call('ZSCORE', KEYS[2], id) then
        redis.call('ZREM', KEYS[1], id)
      elseif free(id, false) then
        return lease(id, tonumber(ids[i + 1]), redis.call('HGET', KEYS[8], id) == 'exploration')
      else
        kept = kept + 1
      end
    end
  end
end
local out = from_queue()
if out then return out end

-- (4) a random unlabeled item from the pool
local function from_pool(allow_skipped)
  local n = redis.call('SCARD', KEYS[14])
  if n == 0 then return nil end
  for _ = 1, 3 do
    for _, id in ipairs(redis.call('SRANDMEMBER', KEYS[14], 64)) do
      if free(id, allow_skipped) then return id end
    end
    if n <= 64 then return nil end
  end
  local cursor = '0'
  repeat
    local res = redis.call('SSCAN', KEYS[14], cursor, 'COUNT', 1000)
    cursor = res[1]
    for _, id in ipairs(res[2]) do
      if free(id, allow_skipped) then return id end
    end
  until cursor == '0'
  return nil
end

local id = from_pool(false)
if id then
  redis.call('HSET', KEYS[8], id, 'exploration')
  return lease(id, 0, true)
end

-- (5) nothing else left for this annotator: the items they skipped, in random order
-- (in the set's own order one skipped item came back after every skip, for ever)
local function skipped(sid)
  if redis.call('SISMEMBER', KEYS[14], sid) == 1 and free(sid, true) then
    local p = redis.call('ZSCORE', KEYS[1], sid)
    return lease(sid, tonumber(p or 0), false)
  end
end
-- (from a place the new lease id, random hex, picks: SRANDMEMBER in a script is not
-- random on every Redis)
local function from_skipped()
  local skips = redis.call('SMEMBERS', KEYS[5])
  local start = tonumber(string.sub(ARGV[3], 1, 8), 16) or 0
  for i = 0, #skips - 1 do
    local got = skipped(skips[(start + i) % #skips + 1])
    if got then return got end
  end
end
out = from_skipped()
if out then return out end

-- (6) nothing at all: the leases of annotators whose token expired go back to the
-- queue, as a revocation gives back the revoked one's (team lead's trial: a token
-- that expired mid-item held its page's two leases, the last items, from everyone
-- for the lease's five minutes), and the queue is tried again, then the items
-- this annotator skipped (re-trial: one handed back was a 204). The annotators are
-- read once, and then only the leases of those whose token
-- expired (from their own zset of leases, ``mine:<a>``, whose key is this caller's
-- with the name changed): read lease by lease with each holder's record, every /next
-- of an annotator with nothing left (their page asks every 5 s) took 2.8 ms more at
-- 600 live leases and 6 ms at 2,000 (re-trial).
local mine_prefix = string.sub(KEYS[13], 1, #KEYS[13] - #me)
local annotators = redis.call('HGETALL', KEYS[19])
local freed = 0
for i = 1, #annotators, 2 do
  local name = annotators[i]
  local a = name ~= me and cjson.decode(annotators[i + 1])
  if a and a.expires_at ~= nil and a.expires_at ~= cjson.null
      and tonumber(a.expires_at) <= now then
    local theirs = mine_prefix .. name
    for _, id in ipairs(redis.call('ZRANGE', theirs, 0, -1)) do
      local l = redis.call('HGET', KEYS[3], id)
      local d = l and cjson.decode(l)
      redis.call('ZREM', theirs, id)
      if d and d.annotator == name and redis.call('ZSCORE', KEYS[2], id) then
        redis.call('ZREM', KEYS[2], id)
        redis.call('HDEL', KEYS[3], id)
        if redis.call('HEXISTS', KEYS[4], id) == 0 then
          redis.call('ZADD', KEYS[1], d.priority, id)
          freed = freed + 1
        end
      end
    end
  end
end
if freed > 0 then  -- the queue, then (the only ones handed back, maybe) skipped items
  out = from_queue() or from_skipped()
  if out then return out end
end
return false
