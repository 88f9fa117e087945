-- heartbeat: renew a live lease, or say why it cannot be renewed.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash, KEYS[3] limit override
-- ARGV[1] lease id   ARGV[2] TTL in ms   ARGV[3] default limit
--
-- Returns one of
--   {'renewed', expired, limit, active, record}
--   {'ended', expired, reason, by_lease_id or '', ended_at}   ended on purpose, within one TTL
--   {'not_found', expired}                                    expired, or never known
-- where `expired` counts the expired leases this call dropped.
--
-- Example:
--   EVALSHA <sha> 3 sl:{alice}:l sl:{alice}:e sl:{alice}:limit 0b7c...e1 30000 3
--   -> {'renewed', 0, 3, 2, '0b7c...e1|1700000040000|1700000000000|movie-42|'}

local now = now_ms()
local ttl = tonumber(ARGV[2])
local live, expired = load_live(KEYS[1], now)

for _, l in ipairs(live) do
  if l.id == ARGV[1] then
    l.expires = now + ttl
    save(KEYS[1], live, ttl)
    return { 'renewed', expired, user_limit(KEYS[3], ARGV[3]), #live, encode(l) }
  end
end
-- Not live: write back only if there is something expired to drop.
if expired > 0 then save(KEYS[1], live, ttl) end

local tomb = redis.call('HGET', KEYS[2], ARGV[1])
if tomb then
  local reason, by, ended_at = string.match(tomb, '^([^|]*)|([^|]*)|(%d+)$')
  if tonumber(ended_at) + ttl > now then return { 'ended', expired, reason, by, ended_at } end
end
return { 'not_found', expired }
