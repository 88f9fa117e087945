-- release: end a live lease on the player's request. Idempotent.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash
-- ARGV[1] lease id   ARGV[2] TTL in ms
--
-- Returns {'released', expired} when the lease was live and is now
-- released, {'already_gone', expired} when it was released, ended, expired
-- or never known; `expired` counts the expired leases this call dropped.
--
-- Example:
--   EVALSHA <sha> 2 sl:{alice}:l sl:{alice}:e 0b7c...e1 30000  -> {'released', 0}

local now = now_ms()
local ttl = tonumber(ARGV[2])
local live, expired = load_live(KEYS[1], now)
for _, l in ipairs(live) do
  if l.id == ARGV[1] then
    end_leases(KEYS[2], live, { l.id }, 'released', '', now, ttl)
    save(KEYS[1], live, ttl)
    return { 'released', expired }
  end
end
if expired > 0 then save(KEYS[1], live, ttl) end
return { 'already_gone', expired }
