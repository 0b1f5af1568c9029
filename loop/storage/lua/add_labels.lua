-- Give stored items known labels (as an upload's gold column would have), all or none.
-- KEYS: 1 project record, 2 row, 3 answers, 4 ugold, 5 ugold_counts, 6 eval, 7 pool,
--       8 queue, 9 leasez, 10 leaseh, 11 copies, 12 copies:gen, 13 version,
--       14 queue:version
-- ARGV: 1 JSON object item id -> class index, 2 JSON list of the ids to hold out (of
--       those it labels)
-- An item with an answer keeps it (answers win; its label is not stored); an item
-- with another uploaded label stops everything. A labeled item leaves the pool, the
-- queue and the copies set; its lease ends (an answer with it is refused: its label
-- is known); a ranking made from the state before cannot queue it again.
-- Returns {'gone'} | {'unknown', JSON ids} | {'conflict', JSON [[id, stored class]]} |
--         {'ok', n labeled, n held out, JSON answered ids, n unchanged, n unleased}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local want = cjson.decode(ARGV[1])
local hold = {}
for _, id in ipairs(cjson.decode(ARGV[2])) do hold[id] = true end
local unknown, conflict, answered, todo = {}, {}, {}, {}
local unchanged = 0
for id, c in pairs(want) do
  if redis.call('HEXISTS', KEYS[2], id) == 0 then
    unknown[#unknown + 1] = id
  elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
    answered[#answered + 1] = id
  else
    local had = redis.call('HGET', KEYS[4], id)
    if not had then
      todo[#todo + 1] = id
    elseif tonumber(had) == c then
      unchanged = unchanged + 1
    else
      conflict[#conflict + 1] = {id, tonumber(had)}
    end
  end
end
local function list(t) return #t == 0 and '[]' or cjson.encode(t) end
if #unknown > 0 then return {'unknown', list(unknown)} end
if #conflict > 0 then return {'conflict', list(conflict)} end
local held, unleased, copies_changed = 0, 0, false
for _, id in ipairs(todo) do
  local c = want[id]
  redis.call('HSET', KEYS[4], id, c)
  redis.call('SREM', KEYS[7], id)
  redis.call('ZREM', KEYS[8], id)
  if redis.call('ZREM', KEYS[9], id) == 1 then unleased = unleased + 1 end
  redis.call('HDEL', KEYS[10], id)
  if redis.call('SREM', KEYS[11], id) == 1 then copies_changed = true end
  if hold[id] then
    redis.call('SADD', KEYS[6], id)
    held = held + 1
  else
    redis.call('HINCRBY', KEYS[5], tostring(c), 1)
  end
end
if #todo > 0 then
  local v = redis.call('INCR', KEYS[13])
  if tonumber(redis.call('GET', KEYS[14]) or '-1') < v then redis.call('SET', KEYS[14], v) end
  -- the next ranking tells its copies from the set itself, not from rows it read before
  if copies_changed then redis.call('INCR', KEYS[12]) end
end
return {'ok', #todo, held, list(answered), unchanged, unleased}
