-- Give a leased item back: others get it first; this annotator gets it again only
-- when nothing else is left for them (lease.lua step 5). With ARGV[4] = 'release'
-- (the page that showed it was closed) it is not marked skipped.
-- KEYS: 1 leasez, 2 leaseh, 3 queue, 4 skips:<a>, 5 mine:<a>, 6 done, 7 annotators
-- ARGV: 1 item, 2 lease id, 3 annotator, 4 'skip' or 'release', 5 token hash (last)
-- Returns false on success, 1 for a skip sent again (the item is skipped by this
-- annotator, its lease gone: a retry after a lost reply), else the reason; an
-- error 'revoked'.
if revoked(ARGV[3]) then return redis.error_reply('revoked') end
local l = redis.call('HGET', KEYS[2], ARGV[1])
local d = l and cjson.decode(l)
if (not d or d.annotator ~= ARGV[3]) and ARGV[4] ~= 'release'
    and redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then
  return 1
end
if not d then  -- API audit: it said only this, not why nor what to do
  return 'no active lease on item ' .. ARGV[1] .. ' to give back: it was never leased ' ..
         'to you, or you answered or released it, or its lease expired, so there is ' ..
         'nothing to skip; /queue/next gives you your next item'
end
if d.annotator ~= ARGV[3] then
  return 'item ' .. ARGV[1] .. ' is leased by someone else'
end
if d.id ~= ARGV[2] then
  return 'lease ' .. ARGV[2] .. ' is not your current lease on item ' .. ARGV[1] ..
         '; skip with the lease id your last /queue/next returned'
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 0 then  -- not settled meanwhile
  redis.call('ZADD', KEYS[3], d.priority, ARGV[1])
  if ARGV[4] ~= 'release' then redis.call('SADD', KEYS[4], ARGV[1]) end
end
return false
