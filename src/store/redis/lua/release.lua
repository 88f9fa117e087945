-- release: end a live lease on the player's request. Idempotent.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash
-- ARGV[1] lease id   ARGV[2] TTL in ms
--
-- Returns 1 when the lease was live and is now released, 0 when it was
-- already gone (released, ended, expired or never known).
--
-- Example:
--   EVALSHA <sha> 2 sl:{alice}:l sl:{alice}:e 0b7c...e1 30000  -> 1

local now = now_ms()
local live = load_live(KEYS[1], now)
for _, l in ipairs(live) do
  if l.id == ARGV[1] then
    end_leases(KEYS[2], live, { l.id }, 'released', '', now, tonumber(ARGV[2]))
    save(KEYS[1], live)
    return 1
  end
end
return 0
