#!lua flags=allow-oom
-- revoke: end every live lease of the user ("sign out everywhere").
--
-- KEYS[1] leases string, KEYS[2] tombstones hash
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] TTL in ms
--
-- Returns {'revoked', expired, number of leases revoked}, where `expired`
-- counts the expired leases this call dropped.
--
-- Example:
--   FCALL revoke_<version> 2 sl:{alice}:l sl:{alice}:e '' 30000  -> {'revoked', 0, 2}

expect_args(2, 2, 2)
local ttl = number_arg(2, 'TTL')
local now = now_ms()
local live, expired = load_live(KEYS[1], now)
local ids = {}
for i, l in ipairs(live) do ids[i] = l.id end
end_leases(KEYS[2], live, ids, 'revoked', '', now, ttl)
save(KEYS[1], live, ttl)
return { 'revoked', expired, #ids }
