-- Extend leases an annotator's page holds (the item on screen, the ones it prefetched)
-- while its annotator is there. Only a lease live now is extended: never one that
-- expired (even if nobody took the item since: a renewal does not bring a lease
-- back; /next does, by the ordinary rules), was answered, released, skipped, taken
-- by another annotator, replaced by a newer lease of the same annotator, or whose
-- item needs no more answers; nor any once the token was revoked. So a renewal
-- never makes a token hold more items than /next leased it, and no item comes back
-- to anyone from it.
-- KEYS: 1 leasez, 2 leaseh, 3 done, 4 mine:<a>, 5 answered:<a>, 6 annotators (last,
--       for _revoked.lua)
-- ARGV: 1 now, 2 ttl, 3 annotator, 4 JSON list of [item id, lease id], 5 token hash
--       (last)
-- Returns a flat list: item id, then the new expiry (a number as a string) or the
-- reason it was not renewed ('expired', 'answered', 'settled', 'taken',
-- 'not_held'); an error 'revoked'.
local now, ttl, me = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if revoked(me) then return redis.error_reply('revoked') end
local out = {}
for _, pair in ipairs(cjson.decode(ARGV[4])) do
  local id, lid = pair[1], pair[2]
  local l = redis.call('HGET', KEYS[2], id)
  local d = l and cjson.decode(l)
  local why
  if redis.call('SISMEMBER', KEYS[5], id) == 1 then
    why = 'answered'  -- by them (another may hold it now: several answers an item)
  elseif d and d.annotator ~= me then
    why = 'taken'
  elseif d and d.id ~= lid then
    why = 'not_held'  -- a newer lease of theirs on it (another tab's), or none
  elseif d then
    local until_ = tonumber(redis.call('ZSCORE', KEYS[1], id))
    if redis.call('HEXISTS', KEYS[3], id) == 1 then
      why = 'settled'  -- the admin resolved it, or a relabel broke its tie
    elseif not until_ or until_ <= now then
      why = 'expired'
    else
      local exp = math.max(until_, now + ttl)
      d.expires_at = exp
      redis.call('HSET', KEYS[2], id, cjson.encode(d))
      redis.call('ZADD', KEYS[1], exp, id)
      redis.call('ZADD', KEYS[4], exp, id)
      why = tostring(exp)
    end
  elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
    why = 'settled'
  else
    why = 'not_held'  -- released, skipped, or never leased to them
  end
  out[#out + 1] = id
  out[#out + 1] = why
end
return out
