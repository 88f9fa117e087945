#!lua flags=allow-oom
-- heartbeat: renew a live lease, restore a lost one, or say why neither.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash, KEYS[3] limit override
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] lease id   ARGV[3] TTL in ms
-- ARGV[4] limit without an override (the token's, else the default)
-- ARGV[5] stream_id to restore with; '' or absent: no restore
-- ARGV[6] device_id to restore with; '' or absent: none
-- ARGV[7] device_name to restore with, escaped; '' or absent: none
-- ARGV[8] classes to restore with, 'a,b'; '' or absent: none
-- ARGV[9] class limits without an override, as acquire.lua's ARGV[11]
-- (A heartbeat without a restore body sends none of ARGV[5..9]: each
-- argument costs Redis time on every call.)
--
-- Returns one line, its fields joined by ';' (which no record holds):
--   renewed;expired;limit;source;active;record
--   restored;expired;limit;source;active;record       unknown, not ended, a slot was free
--   denied;expired;limit;source;active;limit_class[;record...]   restore asked, no room:
--       the limit that refused ('total' or a class), its value and source,
--       and the live leases counting against it
--   ended;expired;reason;by_lease_id or '';ended_at   ended on purpose, within one TTL
--   not_found;expired        expired or never known (and no restore, or restores blocked)
-- where `expired` counts the expired leases this call dropped, and `source`
-- is 'o' when the limit override decided the limit, 'f' when ARGV[4] did. One string,
-- not an array: the heartbeat is most of the traffic, and the service reads
-- one bulk string with 5k fewer instructions than an array of five, while
-- building it costs Redis none more (docs/performance.md).
--
-- Example:
--   FCALL heartbeat_<version> 3 sl:{alice}:l sl:{alice}:e sl:{alice}:limit '' 0b7c...e1 30000 3
--   -> 'renewed;0;3;f;2;0b7c...e1|1700000040000|1700000000000|movie-42|'

-- Every input is checked here, before the fast path: the checks apply to
-- both paths.
expect_args(3, 4, 9)
local ttl = number_arg(3, 'TTL')
local fallback = number_arg(4, 'limit')
local now = now_ms()
local raw = redis.call('GET', KEYS[1]) or ''

-- The fast path: most heartbeats renew a live lease with nothing expired
-- beside it. They change the one expiry in place (codec.lua's
-- `fixed_renewal`) rather than decode every record and write them all
-- back. Whenever anything is unusual it falls through to the full path,
-- which decides the same.
local count, offset, expires, record = fixed_renewal(raw, ARGV[2], now, ttl)
if count then
  local limit, source = user_limit(KEYS[3], fallback)
  redis.call('SETRANGE', KEYS[1], digits(offset), expires)
  -- Its expiry is now the latest, so the key outlives it by one TTL.
  redis.call('PEXPIREAT', KEYS[1], digits(now + ttl + ttl))
  return 'renewed;0;' .. digits(limit) .. ';' .. source .. ';' .. digits(count) .. ';' .. record
end

local live, expired = decode_live(raw, now)
for _, l in ipairs(live) do
  if l.id == ARGV[2] then
    l.expires = now + ttl
    save(KEYS[1], live, ttl)
    local limit, source = user_limit(KEYS[3], fallback)
    return 'renewed;' .. expired .. ';' .. limit .. ';' .. source .. ';' .. #live .. ';' .. encode(l)
  end
end

-- Ended on purpose (within one TTL): never restored.
local tomb = redis.call('HGET', KEYS[2], ARGV[2])
if tomb then
  local reason, by, ended_at = decode_tombstone(tomb)
  if ended_at + ttl > now then
    if expired > 0 then save(KEYS[1], live, ttl) end
    return 'ended;' .. expired .. ';' .. reason .. ';' .. by .. ';' .. ended_at
  end
end

-- Restore: recreate the lost lease under its id, if the device holds no
-- other lease, the user has a free slot, and the tombstone cap has not
-- blocked restores (it may have forgotten that this lease ended).
local stream, device, name = ARGV[5] or '', ARGV[6] or '', ARGV[7] or ''
local device_busy = false
if device ~= '' then
  for _, l in ipairs(live) do
    if l.device == device then device_busy = true end
  end
end
if stream == '' or device_busy or restores_blocked(KEYS[2], now) then
  if expired > 0 then save(KEYS[1], live, ttl) end
  return 'not_found;' .. expired
end
local limit, source, overridden = user_limit(KEYS[3], fallback)
local classes = ARGV[8] or ''
local rules = class_limits(ARGV[9] or '', overridden)
for _, b in ipairs(bounds(rules, classes)) do
  local n, src = limit, source
  if b ~= TOTAL then n, src = rules[b].limit, rules[b].source end
  local m = members(rules, live, b)
  if #m >= n then
    if expired > 0 then save(KEYS[1], live, ttl) end
    local line = { 'denied', expired, n, src, #m, b }
    for _, l in ipairs(m) do line[#line + 1] = encode(l) end
    return table.concat(line, ';')
  end
end
local lease = { id = ARGV[2], expires = now + ttl, acquired = now, stream = stream, device = device, name = name, classes = classes }
live[#live + 1] = lease
save(KEYS[1], live, ttl)
return 'restored;' .. expired .. ';' .. limit .. ';' .. source .. ';' .. #live .. ';' .. encode(lease)
