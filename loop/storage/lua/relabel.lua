-- Change this annotator's earlier answer to an item (no lease needed: it is theirs).
-- KEYS: 1 answers, 2 gold, 3 log, 4 version, 5 since_recal (a changed label is a change
--       the models have not seen, like a new answer), 6 done, 7 pending, 8 queue,
--       9 pool, 10 resolved, 11 leasez, 12 annotators
-- ARGV: 1 item, 2 annotator, 3 new label, 4 now, 5 k, 6 token hash
-- A change can make or break a tie (k > 1): the item then wants one more answer
-- again, or no longer. Returns 'changed', 'same' (already that label) or false (no
-- answer of theirs); an error 'revoked'.
if revoked(ARGV[2]) then return redis.error_reply('revoked') end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local list = cjson.decode(raw)
local label = tonumber(ARGV[3])
for _, a in ipairs(list) do
  if a.annotator == ARGV[2] then
    if a.label == label then return 'same' end
    a.label = label
    a.changed_at = tonumber(ARGV[4])
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
    local resolution = redis.call('HGET', KEYS[10], ARGV[1])
    put_gold(KEYS[2], ARGV[1], list, resolution)
    refile(KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[11], ARGV[1], list, tonumber(ARGV[5]),
           resolution)
    redis.call('XADD', KEYS[3], '*', 'event', 'relabel', 'item', ARGV[1],
               'annotator', ARGV[2], 'label', ARGV[3])
    redis.call('INCR', KEYS[4])
    redis.call('INCR', KEYS[5])
    return 'changed'
  end
end
return false
