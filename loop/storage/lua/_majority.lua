-- Shared by answer.lua, undo.lua, relabel.lua and resolve.lua (prepended by
-- scripts.py): the gold record of an item is the majority of its answers (the
-- record of the answer that gave the winning label first, a changed answer from
-- its change: a relabel kept its first time, and the export dated a label from
-- before anyone gave it; team lead's trial), or the admin's resolution
-- where there is one. Two or more labels with the most answers are a tie: no gold
-- record (the models do not learn a coin flip); the item waits for one more
-- answer, and after k + 1 answers for an admin's resolution.
local function majority(list)
  local count, first = {}, {}
  for i, a in ipairs(list) do
    local c = a.label
    count[c] = (count[c] or 0) + 1
    if not first[c] then first[c] = i end
  end
  local best, tie = nil, false
  for c, n in pairs(count) do
    if best == nil or n > count[best] then
      best, tie = c, false
    elseif n == count[best] then
      tie = true
      if first[c] < first[best] then best = c end
    end
  end
  if best == nil or tie then return nil end
  local g, at = nil, nil
  for _, a in ipairs(list) do
    local t = tonumber(a.changed_at or a.at)
    if a.label == best and (g == nil or t < at) then g, at = a, t end
  end
  return cjson.encode({label = best, annotator = g.annotator, at = at, lease = g.lease,
                       n_answers = #list})
end

-- Write item id's gold record into hash key from its answers (or resolution, the
-- raw JSON of the admin's record, or false); delete it on a tie. Returns it.
local function put_gold(key, id, list, resolution)
  local g = resolution or majority(list)
  if g then redis.call('HSET', key, id, g) else redis.call('HDEL', key, id) end
  return g
end

-- Whether item needs no more answers: resolved, or k answers with a majority, or
-- k + 1 answers (a tie then waits for the admin).
local function settled(list, k, resolution)
  if resolution then return true end
  if #list >= k + 1 then return true end
  return #list >= k and majority(list) ~= nil
end

-- After a change to item id's answers or resolution: mark it done (KEYS done) when it
-- needs no more answers, out of pending, queue and pool; or, when it was done and
-- now wants one more (a tie again) or has no answer left, back on top of the queue
-- (not while leased). Pending holds items with some answers only.
local function refile(done, pending, queue, pool, leasez, id, list, k, resolution)
  local was = redis.call('HEXISTS', done, id) == 1
  if settled(list, k, resolution) then
    if not was then
      redis.call('HSET', done, id, #list)
      redis.call('ZREM', pending, id)
      redis.call('ZREM', queue, id)
      redis.call('SREM', pool, id)
    end
    return
  end
  if #list == 0 then redis.call('ZREM', pending, id) end
  if was then
    local top = redis.call('ZREVRANGE', queue, 0, 0, 'WITHSCORES')
    local p = 1e9
    if #top > 0 then p = tonumber(top[2]) + 1 end
    redis.call('HDEL', done, id)
    if #list > 0 then redis.call('ZADD', pending, p, id) end
    redis.call('SADD', pool, id)
    if not redis.call('ZSCORE', leasez, id) then redis.call('ZADD', queue, p, id) end
  end
end
