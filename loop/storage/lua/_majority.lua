-- Shared by answer.lua, undo.lua and relabel.lua (prepended by scripts.py): the
-- gold record of an item is the majority of its answers; ties go to the label
-- answered first.
local function majority(list)
  local count, first = {}, {}
  for i, a in ipairs(list) do
    local c = a.label
    count[c] = (count[c] or 0) + 1
    if not first[c] then first[c] = i end
  end
  local best = nil
  for c, n in pairs(count) do
    if best == nil or n > count[best] or (n == count[best] and first[c] < first[best]) then
      best = c
    end
  end
  local g = list[first[best]]
  return cjson.encode({label = best, annotator = g.annotator, at = g.at, lease = g.lease,
                       n_answers = #list})
end
