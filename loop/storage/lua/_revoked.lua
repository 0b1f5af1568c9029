-- Shared by the scripts an annotator's request runs (lease, answer, skip, undo,
-- relabel): the caller's token (its SHA-256, the LAST ARGV; '' for an admin or an
-- internal caller) must be the one the annotator's record (the project's annotators
-- hash, the LAST KEY) holds now. Token lookups are cached for a moment in each web
-- process; this check is not, so a revoked token, or one replaced by adding the
-- name again, changes nothing from that moment (operator's trials: a lease taken
-- then was held until it expired; 60 answers were undone 80 ms after the revoke).
local function revoked(name)
  local h = ARGV[#ARGV]
  if h == '' then return false end
  local rec = redis.call('HGET', KEYS[#KEYS], name)
  return not rec or cjson.decode(rec).token_hash ~= h
end
