-- Shared by lease.lua (prepended by loop/storage/scripts.py): what a /next
-- response needs about an item, read in the same atomic call.
-- KEYS used: items(6) row(7) reason(8) L:meta(9) proba:end_model(10)
--            proba:label_model(11) pool(14) queue(1) answers(16)
local function payload(id, lease_id, exp)
  local item = redis.call('HGET', KEYS[6], id) or ''
  local row = redis.call('HGET', KEYS[7], id)
  local reason = redis.call('HGET', KEYS[8], id) or ''
  local lrow, em, lm, version = '', '', '', ''
  if row then
    local r = tonumber(row)
    local w = tonumber(ARGV[5]) * 8  -- bytes per proba row (float64)
    em = redis.call('GETRANGE', KEYS[10], r * w, (r + 1) * w - 1)
    lm = redis.call('GETRANGE', KEYS[11], r * w, (r + 1) * w - 1)
    local meta = redis.call('GET', KEYS[9])
    if meta then
      local m = cjson.decode(meta)
      version = tostring(m.version)
      if r < m.n_items then
        local a = (r % m.chunk_size) * m.n_lfs
        lrow = redis.call('GETRANGE', m.chunks[math.floor(r / m.chunk_size) + 1],
                          a, a + m.n_lfs - 1)
      end
    end
  end
  return {id, lease_id, tostring(exp), item, row or '', reason, lrow, em, lm, version,
          redis.call('ZCARD', KEYS[1]), redis.call('SCARD', KEYS[14]),
          redis.call('HEXISTS', KEYS[16], id)}
end
