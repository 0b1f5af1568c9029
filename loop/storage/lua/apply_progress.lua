-- Note an apply unit's progress; a unit's count never goes back (a unit run again
-- after its worker died counts from 0: the run's progress went 3342 -> 1114).
-- KEYS: 1 progress hash
-- ARGV: 1 unit, 2 rows done, 3 now (epoch seconds), 4 ttl seconds
local was = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > was then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[1], 'at', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
