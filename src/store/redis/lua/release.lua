#!lua flags=allow-oom
-- release: end a live lease on the player's request. Idempotent.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] lease id   ARGV[3] TTL in ms
-- ARGV[4] '1': leave a tombstone ('released'); '0': withdraw quietly, for an
--         acquire whose answer never reached its player (no tombstone, so a
--         player that did learn the id in fail-open mode can still restore)
--
-- Returns {'released', expired} when the lease was live and is now
-- released, {'already_gone', expired} when it was released, ended, expired
-- or never known; `expired` counts the expired leases this call dropped.
--
-- Example:
--   FCALL release_<version> 2 sl:{alice}:l sl:{alice}:e '' 0b7c...e1 30000 1  -> {'released', 0}

expect_args(2, 4, 4)
local ttl = number_arg(3, 'TTL')
if ARGV[4] ~= '0' and ARGV[4] ~= '1' then bad_args('ARGV[4] (tombstone) is neither 0 nor 1') end
local now = now_ms()
local live, expired = load_live(KEYS[1], now)
for i, l in ipairs(live) do
  if l.id == ARGV[2] then
    if ARGV[4] == '1' then
      end_leases(KEYS[2], live, { l.id }, 'released', '', now, ttl)
    else
      table.remove(live, i)
    end
    save(KEYS[1], live, ttl)
    return { 'released', expired }
  end
end
if expired > 0 then save(KEYS[1], live, ttl) end
return { 'already_gone', expired }
