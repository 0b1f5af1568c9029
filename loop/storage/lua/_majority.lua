-- Shared by answer.lua, undo.lua, relabel.lua and resolve.lua (prepended by
-- scripts.py): the gold record of an item is the majority of its answers (the
-- record of the first answer of the winning label), or the admin's resolution
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
  local g = list[first[best]]
  return cjson.encode({label = best, annotator = g.annotator, at = g.at, lease = g.lease,
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
