-- Remove this annotator's last answer; the item goes back on top of the queue.
-- KEYS: 1 hist:<a>, 2 answers, 3 log, 4 queue, 5 n:<a>, 6 n:<a>:<day>, 7 gold, 8 done,
--       9 pending, 10 answered:<a>, 11 leasez, 12 pool, 13 version, 14 since_recal (a
--       withdrawn answer is a change the models have not seen, like a new one),
--       15 resolved, 16 row (item id -> row: which items exist), 17 audit, 18 reason,
--       19 undone:<a> (the item of this annotator's last undo), 20 leaseh, 21
--       mine:<a>, 22 annotators (last, for _revoked.lua)
-- ARGV: 1 annotator, 2 start of today (unix s), 3 k, 4 the item whose answer is to
--       go ('' = whichever is last), 5 now (unix s), 6 seconds the item is held for
--       the annotator to answer again (0: none), 7 the new lease's id, 8 token hash
--       (last, for _revoked.lua)
-- With k > 1 only this annotator's answer goes; the gold record becomes the
-- majority of the others. An item the admin resolved keeps its resolution and
-- stays done. Returns {'undone', item, what became of it, the other answers it
-- keeps, and when the item is held for this annotator the lease's id and expiry}
-- (what: 'resolved', the admin's label stands; 'settled', the other answers give it
-- its label; 'leased', another annotator has it on screen; 'queued'), or
-- false with nothing to undo; with ARGV[4]
-- and another answer last, {'gone', item} when this annotator's last undo took that
-- item's answer back (a retry), {'not_yours', item} when they have no answer to it
-- otherwise (another annotator's, or an uploaded label), {'not_last', last item}, or
-- {'unknown', item} when the project has no such item; an error 'revoked'.
if revoked(ARGV[1]) then return redis.error_reply('revoked') end
-- the reply: what became of the item (the labeling page said "it went back to the
-- queue" of an item another annotator held, or that the other answers settled:
-- team lead's trial)
local function undone(id, n_other, lease_id, expires_at)
  if lease_id then return {'undone', id, 'queued', n_other, lease_id, tostring(expires_at)} end
  local what = 'queued'
  if redis.call('HEXISTS', KEYS[15], id) == 1 then what = 'resolved'
  elseif redis.call('HEXISTS', KEYS[8], id) == 1 then what = 'settled'
  else
    local exp = redis.call('ZSCORE', KEYS[11], id)
    local l = exp and tonumber(exp) > tonumber(ARGV[5]) and redis.call('HGET', KEYS[20], id)
    if l and cjson.decode(l).annotator ~= ARGV[1] then what = 'leased' end
  end
  return {'undone', id, what, n_other}
end
if ARGV[4] ~= '' then
  local last = redis.call('LINDEX', KEYS[1], 0)
  if last ~= ARGV[4] then
    if redis.call('HEXISTS', KEYS[16], ARGV[4]) == 0 then return {'unknown', ARGV[4]} end
    if redis.call('SISMEMBER', KEYS[10], ARGV[4]) == 0 then
      if redis.call('GET', KEYS[19]) == ARGV[4] then return {'gone', ARGV[4]} end
      return {'not_yours', ARGV[4]}
    end
    return {'not_last', last or ''}
  end
end
local id = redis.call('LPOP', KEYS[1])
if not id then return false end
local raw = redis.call('HGET', KEYS[2], id)
local keep, mine = {}, nil
if raw then
  for _, a in ipairs(cjson.decode(raw)) do
    if mine == nil and a.annotator == ARGV[1] then mine = a else keep[#keep + 1] = a end
  end
end
redis.call('XADD', KEYS[3], '*', 'event', 'undo', 'item', id, 'annotator', ARGV[1])
redis.call('SET', KEYS[19], id)
if mine == nil then return undone(id, #keep) end
local at = tonumber(mine.at)
if at and at >= tonumber(ARGV[2]) then redis.call('DECR', KEYS[6]) end
redis.call('DECR', KEYS[5])
redis.call('SREM', KEYS[10], id)
redis.call('INCR', KEYS[13])
redis.call('INCR', KEYS[14])
local resolution = redis.call('HGET', KEYS[15], id)
if #keep == 0 then redis.call('HDEL', KEYS[2], id)
else redis.call('HSET', KEYS[2], id, cjson.encode(keep)) end
put_gold(KEYS[7], id, keep, resolution)  -- a resolution stays the gold label
if resolution then return undone(id, #keep) end  -- and the item stays done
if #keep > 0 and settled(keep, tonumber(ARGV[3]), false) then  -- a tie-break undone
  redis.call('HSET', KEYS[8], id, #keep)
  return undone(id, #keep)
end
redis.call('HDEL', KEYS[8], id)
redis.call('SADD', KEYS[12], id)
local top = redis.call('ZREVRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local p = 1e9
if #top > 0 then p = tonumber(top[2]) + 1 end
if #keep == 0 then redis.call('ZREM', KEYS[9], id) else redis.call('ZADD', KEYS[9], p, id) end
-- an item drawn at random stays a random pick when its answer is taken back: served
-- again as one (lease.lua sets the audit mark by the reason until the first answer;
-- a new-user trial saw an undone random pick come back as "Model uncertain", and its
-- second answer was no longer counted as random gold)
if #keep == 0 and redis.call('SISMEMBER', KEYS[17], id) == 1 then
  redis.call('HSET', KEYS[18], id, 'exploration')
end
if redis.call('ZSCORE', KEYS[11], id) then return undone(id, #keep) end
local hold = tonumber(ARGV[6])
if hold <= 0 then
  redis.call('ZADD', KEYS[4], p, id)
  return undone(id, #keep)
end
-- held for the annotator who took the answer back, to answer again: on top of the
-- queue unleased, another annotator's page took it in the moment before the undoer's
-- asked (team session); their next /next renews this lease (lease.lua, step 2), and
-- once it expires unanswered the item goes back on top of the queue
local exp = tonumber(ARGV[5]) + hold
redis.call('ZADD', KEYS[11], exp, id)
redis.call('HSET', KEYS[20], id, cjson.encode({id = ARGV[7], annotator = ARGV[1],
  priority = p, expires_at = exp, reason = redis.call('HGET', KEYS[18], id) or nil}))
redis.call('ZADD', KEYS[21], exp, id)
redis.call('ZREM', KEYS[4], id)
return undone(id, #keep, ARGV[7], exp)
