-- The admin discards every answer one annotator gave (careless, or not who they
-- said): each item they answered loses that answer, its gold record becomes the
-- majority of the others' answers (or stays the admin's resolution), and an item
-- that needs answers again goes back on top of the queue, as after an undo. One
-- transaction; the append-only log keeps the discarded answers.
-- KEYS: 1 answered:<a>, 2 answers, 3 gold, 4 resolved, 5 done, 6 pending, 7 queue,
--       8 pool, 9 leasez, 10 hist:<a>, 11 n:<a>, 12 n:<a>:<day>, 13 log, 14 version,
--       15 since_recal, 16 audit, 17 reason
-- ARGV: 1 annotator, 2 k
-- Returns {answers discarded, items that need answers again}.
local k = tonumber(ARGV[2])
local n, reopened = 0, 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('HGET', KEYS[2], id)
  local keep, mine = {}, false
  if raw then
    for _, a in ipairs(cjson.decode(raw)) do
      if a.annotator == ARGV[1] then mine = true else keep[#keep + 1] = a end
    end
  end
  if mine then
    n = n + 1
    local resolution = redis.call('HGET', KEYS[4], id)
    local was = redis.call('HEXISTS', KEYS[5], id) == 1
    if #keep == 0 then redis.call('HDEL', KEYS[2], id)
    else redis.call('HSET', KEYS[2], id, cjson.encode(keep)) end
    put_gold(KEYS[3], id, keep, resolution)
    refile(KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], id, keep, k, resolution)
    if was and redis.call('HEXISTS', KEYS[5], id) == 0 then reopened = reopened + 1 end
    -- a random pick left without answers is served again as one, as after an undo
    -- (a ranking since its answer dropped its reason: served as a sampler's pick,
    -- its next answer was no longer random gold; team lead's trial)
    if #keep == 0 and not resolution and redis.call('SISMEMBER', KEYS[16], id) == 1 then
      redis.call('HSET', KEYS[17], id, 'exploration')
    end
  end
end
redis.call('DEL', KEYS[1], KEYS[10], KEYS[11], KEYS[12])
redis.call('XADD', KEYS[13], '*', 'event', 'discard', 'annotator', ARGV[1], 'n', tostring(n))
if n > 0 then
  redis.call('INCR', KEYS[14])
  redis.call('INCRBY', KEYS[15], n)
end
return {n, reopened}
