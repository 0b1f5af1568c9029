-- Give back every item leased to an annotator (their token was revoked): each goes
-- back to the queue at its priority, for the others.
-- KEYS: 1 leasez, 2 leaseh, 3 queue, 4 done, 5 mine:<a>
-- ARGV: 1 annotator
-- Returns the number of leases ended.
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local l = redis.call('HGET', KEYS[2], id)
  local d = l and cjson.decode(l)
  if d and d.annotator == ARGV[1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    if redis.call('HEXISTS', KEYS[4], id) == 0 then
      redis.call('ZADD', KEYS[3], d.priority, id)
    end
    n = n + 1
  end
end
redis.call('DEL', KEYS[5])
return n
