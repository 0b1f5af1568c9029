-- Shared by lease.lua and answer.lua: whether annotator `name` has been revoked
-- (their record in the project's annotators hash says so; admins are not listed).
-- Token lookups are cached for a moment in each web process; this check is not,
-- so a revoked annotator takes no item and stores no answer from the moment of
-- the revocation (operator's trial: a lease taken in that moment was held until
-- it expired).
local function revoked(key, name)
  local rec = redis.call('HGET', key, name)
  if not rec then return false end
  local at = cjson.decode(rec).revoked_at
  return at ~= nil and at ~= cjson.null
end
