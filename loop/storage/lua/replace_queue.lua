-- Swap in a new ranking, unless the queue holds one made from newer state.
-- KEYS: 1 queue, 2 reason, 3 pending, 4 queue:version, 5 done, 6 leasez, 7 pool,
--       8 copies, 9 copies:rows, 10 copies:gen
-- ARGV: 1 state version the ranking was made from, 2 and 3 JSON lists of the items
--       that became exact copies of an answered, held-out, leased or earlier
--       unanswered item (:func:`loop.core.sampling.copies`) and of those that are no
--       copies any more ('' when the ranking had no features to tell), 4 what they
--       were told from: the copies:gen of the copies:rows the caller read, or '*' for
--       the copies set itself, 5 the rows of every copy now (int64 bytes), then
--       triples id, priority, reason
-- Items that still need answers (k > 1, in pending) are merged in at their
-- priority. Items answered or leased since the ranking's state was read are left
-- out (leasing would skip them, but the queue's length would count them).
-- Returns 1 if replaced, 0 if a newer ranking is already there.
local cur = tonumber(redis.call('GET', KEYS[4]) or '-1')
if tonumber(ARGV[1]) < cur then return 0 end
-- the changes were told from rows another ranking has replaced since: the caller
-- tells them again from the copies set itself (nothing is written before this)
if ARGV[2] ~= '' and ARGV[4] ~= '*' and ARGV[4] ~= (redis.call('GET', KEYS[10]) or '') then
  return -1
end
-- Copies leave the pool for the copies set, so that nothing hands them out (the
-- ranking never lists one; the pool's random draw, once the ranking had nothing left,
-- served exact copies of answered texts: 365 of 429 draws in a soak) and "remaining"
-- does not count them (the export gives them their text's answer). One that is no
-- copy any more (its twin's answer undone) goes back, unless it needs no answers.
-- Only the changes come: the whole list, 300,000 copies of a million items, held
-- Redis for 0.9 s at every ranking.
if ARGV[2] ~= '' then
  for _, id in ipairs(cjson.decode(ARGV[3])) do
    if redis.call('SREM', KEYS[8], id) == 1 and redis.call('HEXISTS', KEYS[5], id) == 0 then
      redis.call('SADD', KEYS[7], id)
    end
  end
  for _, id in ipairs(cjson.decode(ARGV[2])) do redis.call('SMOVE', KEYS[7], KEYS[8], id) end
  redis.call('SET', KEYS[9], ARGV[5])
  redis.call('INCR', KEYS[10])
end
-- why a pending item is asked stays with it (a held one's reason is in its lease
-- record, which lease.lua serves it again with: a random pick's badge read "Checks
-- the LFs" after a recalibration, new-user trial)
local kept = {}
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
for i = 1, #ids, 500 do
  local part = {unpack(ids, i, math.min(i + 499, #ids))}
  local reasons = redis.call('HMGET', KEYS[2], unpack(part))
  for j = 1, #part do
    if reasons[j] then
      kept[#kept + 1] = part[j]
      kept[#kept + 1] = reasons[j]
    end
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 1, #kept, 1000 do
  redis.call('HSET', KEYS[2], unpack(kept, i, math.min(i + 999, #kept)))
end
local z, h = {}, {}
for i = 6, #ARGV, 3 do
  if redis.call('HEXISTS', KEYS[5], ARGV[i]) == 0
      and not redis.call('ZSCORE', KEYS[6], ARGV[i]) then
    z[#z + 1] = ARGV[i + 1]
    z[#z + 1] = ARGV[i]
    h[#h + 1] = ARGV[i]
    h[#h + 1] = ARGV[i + 2]
  end
  if #z >= 2000 then
    redis.call('ZADD', KEYS[1], unpack(z))
    redis.call('HSET', KEYS[2], unpack(h))
    z, h = {}, {}
  end
end
if #z > 0 then
  redis.call('ZADD', KEYS[1], unpack(z))
  redis.call('HSET', KEYS[2], unpack(h))
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZUNIONSTORE', KEYS[1], 2, KEYS[1], KEYS[3], 'AGGREGATE', 'MAX')
  -- a pending item someone holds now waits for that answer, not in the queue
  -- (the leases are few: one or two per annotator)
  local leased = redis.call('ZRANGE', KEYS[6], 0, -1)
  for i = 1, #leased, 500 do
    redis.call('ZREM', KEYS[1], unpack(leased, i, math.min(i + 499, #leased)))
  end
end
redis.call('SET', KEYS[4], ARGV[1])
return 1
