-- Store one annotator's answer to a leased item, once (any k >= 1).
-- KEYS: 1 answers, 2 leasez, 3 leaseh, 4 queue, 5 log, 6 hist:<a>, 7 since_recal,
--       8 n:<a>, 9 n:<a>:<day>, 10 row, 11 gold, 12 done, 13 pending,
--       14 answered:<a>, 15 mine:<a>, 16 pool, 17 version, 18 resolved, 19 ugold,
--       20 annotators (last, for _revoked.lua)
-- ARGV: 1 item, 2 lease id, 3 answer record JSON, 4 annotator, 5 k, 6 token hash
-- Returns {'stored', answers since recalibration} |
--         {'duplicate', answers since recalibration} |
--         {'relabel', label stored before} (another label than this annotator's) |
--         {'conflict', reason} | {'notfound', '0'}; an error 'revoked'
if revoked(ARGV[4]) then return redis.error_reply('revoked') end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local list = {}
if raw then list = cjson.decode(raw) end
for _, a in ipairs(list) do
  if a.annotator == ARGV[4] then
    -- this lease's answer, or one sent with a lease from before an undo (a late
    -- send; API audit: that was a bare 409): the same label is a duplicate,
    -- another one says what is stored
    if a.label == cjson.decode(ARGV[3]).label then
      return {'duplicate', tostring(tonumber(redis.call('GET', KEYS[7]) or '0'))}
    end
    return {'relabel', tostring(a.label)}
  end
end
if redis.call('HEXISTS', KEYS[12], ARGV[1]) == 1 then
  return {'conflict', 'item ' .. ARGV[1] .. ' was already answered: it needs no more ' ..
          'answers (others answered it, or the admin settled it, meanwhile)'}
end
local l = redis.call('HGET', KEYS[3], ARGV[1])
if not l then
  if redis.call('HEXISTS', KEYS[10], ARGV[1]) == 0 then return {'notfound', '0'} end
  -- given a known label while it was leased (POST /labels ends its lease)
  if redis.call('HEXISTS', KEYS[19], ARGV[1]) == 1 then
    return {'conflict', 'item ' .. ARGV[1] .. ' was given a known label meanwhile (an ' ..
            'admin added labels of items): it needs no answer; get the next item with ' ..
            '/queue/next'}
  end
  return {'conflict', 'no active lease on item ' .. ARGV[1] .. ': it was never leased to ' ..
          'you, or you skipped or released it, or its lease expired; get an item with ' ..
          '/queue/next and answer with its lease id'}
end
local d = cjson.decode(l)
if d.annotator ~= ARGV[4] then
  return {'conflict', 'item ' .. ARGV[1] .. ' is leased by someone else'}
end
if d.id ~= ARGV[2] then
  return {'conflict', 'lease ' .. ARGV[2] .. ' is not your current lease on item ' .. ARGV[1] ..
          '; answer with the lease id your last /queue/next returned'}
end
list[#list + 1] = cjson.decode(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(list))
local resolution = redis.call('HGET', KEYS[18], ARGV[1])
put_gold(KEYS[11], ARGV[1], list, resolution)
redis.call('XADD', KEYS[5], '*', 'event', 'answer', 'item', ARGV[1], 'record', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[15], ARGV[1])
redis.call('SADD', KEYS[14], ARGV[1])
if settled(list, tonumber(ARGV[5]), resolution) then
  redis.call('HSET', KEYS[12], ARGV[1], #list)
  redis.call('ZREM', KEYS[13], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('SREM', KEYS[16], ARGV[1])
else
  redis.call('ZADD', KEYS[13], d.priority, ARGV[1])
  redis.call('ZADD', KEYS[4], d.priority, ARGV[1])
end
redis.call('LPUSH', KEYS[6], ARGV[1])
redis.call('LTRIM', KEYS[6], 0, 9999)
redis.call('INCR', KEYS[8])
redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], 172800)
redis.call('INCR', KEYS[17])
return {'stored', tostring(redis.call('INCR', KEYS[7]))}
