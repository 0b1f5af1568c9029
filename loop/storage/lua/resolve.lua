-- The admin settles an answered item's label (a tie, or any disagreement): the
-- resolution is its gold record from now on, whatever its answers; the item needs
-- no more answers. An empty record takes a resolution back (the majority rules
-- again, and a tie wants answers again).
-- KEYS: 1 resolved, 2 gold, 3 done, 4 pending, 5 queue, 6 pool, 7 log, 8 version,
--       9 since_recal, 10 answers, 11 leasez, 12 audit, 13 reason
-- ARGV: 1 item, 2 resolution record JSON ('' to take it back), 3 k, 4 the answers
--       the admin saw, JSON {annotator: label} ('' for any)
-- Returns 'resolved', 'unresolved', 'changed' (ARGV[4] is not the item's answers
-- now: nothing done), or false when the item has neither answers nor a resolution
-- (a resolution whose answers were all undone can still be changed or taken back:
-- the item is then unanswered again).
local raw = redis.call('HGET', KEYS[10], ARGV[1])
local list = {}
if raw then list = cjson.decode(raw) end
if ARGV[4] ~= '' then
  -- a tie broken (or an answer undone, changed) since the admin's page read it: the
  -- admin decides on what is there now (team lead's trial)
  local seen, n = cjson.decode(ARGV[4]), 0
  for _ in pairs(seen) do n = n + 1 end
  if n ~= #list then return 'changed' end
  for _, a in ipairs(list) do
    if seen[a.annotator] ~= a.label then return 'changed' end
  end
end
-- (after the check: answers read and all taken back since are 'changed' too, not "no
-- answers", which the dashboard said of a tie both annotators undid)
if not raw and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
local resolution = ARGV[2]
if resolution == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  resolution = false
else
  redis.call('HSET', KEYS[1], ARGV[1], resolution)
end
put_gold(KEYS[2], ARGV[1], list, resolution)
refile(KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[11], ARGV[1], list, tonumber(ARGV[3]), resolution)
-- a random pick whose answers were all taken back is served again as one once its
-- resolution goes too, as after an undo or a discard (team lead's trial)
if not resolution and #list == 0 and redis.call('SISMEMBER', KEYS[12], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[13], ARGV[1], 'exploration')
end
redis.call('XADD', KEYS[7], '*', 'event', 'resolve', 'item', ARGV[1], 'record', ARGV[2])
redis.call('INCR', KEYS[8])
redis.call('INCR', KEYS[9])
if resolution then return 'resolved' end
return 'unresolved'
