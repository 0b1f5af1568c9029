-- Merge fields into the metrics point with a given id (newest first), atomically.
-- KEYS: 1 metrics
-- ARGV: 1 point id, 2 fields JSON
-- Returns 1 if the point was found.
local n = redis.call('LLEN', KEYS[1])
for i = n - 1, math.max(0, n - 200), -1 do
  local p = cjson.decode(redis.call('LINDEX', KEYS[1], i))
  if p.id == ARGV[1] then
    for k, v in pairs(cjson.decode(ARGV[2])) do p[k] = v end
    redis.call('LSET', KEYS[1], i, cjson.encode(p))
    return 1
  end
end
return 0
