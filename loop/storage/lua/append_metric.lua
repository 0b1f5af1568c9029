-- Append a metrics point; past a cap, thin the older points (atomically).
-- KEYS: 1 metrics
-- ARGV: 1 point JSON, 2 cap (most points kept), 3 recent (newest points never thinned)
-- Once the list holds more than `cap` points, every second one of the points
-- before the newest `recent` is dropped (the first, the project's starting point,
-- stays): older history grows sparser, the list stays under `cap`.
-- Returns the list's length.
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
local cap, recent = tonumber(ARGV[2]), tonumber(ARGV[3])
if n <= cap then return n end
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local kept = {}
for i = 1, n do
  if i > n - recent or i % 2 == 1 then kept[#kept + 1] = all[i] end
end
redis.call('DEL', KEYS[1])
for i = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
end
return #kept
