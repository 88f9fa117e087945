#!lua flags=allow-oom
-- heartbeat: renew a live lease, restore a lost one, or say why neither.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash, KEYS[3] limit override
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] lease id   ARGV[3] TTL in ms
-- ARGV[4] default limit
-- ARGV[5] stream_id to restore with; '' or absent: no restore
-- ARGV[6] device_id to restore with; '' or absent: none
-- ARGV[7] device_name to restore with, escaped; '' or absent: none
-- (A heartbeat without a restore body sends neither: each argument costs
-- Redis time on every call.)
--
-- Returns one of
--   {'renewed', expired, limit, active, record}
--   {'restored', expired, limit, active, record}    unknown, not ended, a slot was free
--   {'denied', expired, limit, active, {record, ...}}   restore asked, no free slot
--   {'ended', expired, reason, by_lease_id or '', ended_at}   ended on purpose, within one TTL
--   {'not_found', expired}        expired or never known (and no restore, or restores blocked)
-- where `expired` counts the expired leases this call dropped.
--
-- Example:
--   EVALSHA <sha> 3 sl:{alice}:l sl:{alice}:e sl:{alice}:limit '' 0b7c...e1 30000 3
--   -> {'renewed', 0, 3, 2, '0b7c...e1|1700000040000|1700000000000|movie-42|'}

-- The fast path comes first, ahead of the prelude: most heartbeats renew a
-- live lease with nothing expired beside it, and they should not pay for
-- defining the prelude's functions. It reads the leases string as the
-- prelude documents it, relying on a record head of fixed width: the
-- 36-character lease id, '|', the 13-digit expiry, '|' (ms since the epoch
-- have 13 digits until the year 2286), so expiries compare as strings. It
-- changes only the renewed record's expiry and the key's, and whenever
-- anything is unusual it falls through to the full path, which decides the
-- same.

-- The inputs, checked as the prelude's `expect_args` would (it is not
-- defined yet here), at the least cost: 3 keys, 4 to 7 arguments, the TTL
-- and a given time numbers. The default limit is checked on the full path;
-- the fast one only uses it when it is a number.
local ttl = tonumber(ARGV[3])
if #KEYS ~= 3 or #ARGV < 4 or #ARGV > 7 or not ttl then
  error({ err = 'BADARGS expected 3 keys and 4 to 7 arguments, ARGV[3] (TTL) a number' })
end
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1]) or error({ err = 'BADARGS ARGV[1] (now) is not a number' })
else
  local t = redis.call('TIME')
  now = t[1] * 1000 + math.floor(t[2] / 1000)
end
local raw = redis.call('GET', KEYS[1]) or ''
local find, sub, byte = string.find, string.sub, string.byte
local limit = tonumber(redis.call('GET', KEYS[3]) or ARGV[4])
local at = find(raw, ARGV[2], 1, true)
-- Only ';' comes before a record (ids cannot contain it), so a match
-- anywhere else (another record's stream, say) is left to the full path,
-- as are a corrupt limit and times without exactly 13 digits.
if at and (at == 1 or byte(raw, at - 1) == 59) and limit and now >= 1e12 and now + ttl < 1e13 then
  local now_s = string.format('%d', now)
  local count, from, size, all_live = 0, 1, #raw, true
  while from <= size do
    -- Expiry digits sit at from+37..from+49, framed by '|' at +36 and +50.
    if byte(raw, from + 36) ~= 124 or byte(raw, from + 50) ~= 124 or sub(raw, from + 37, from + 49) <= now_s then
      all_live = false
      break
    end
    count = count + 1
    from = (find(raw, ';', from + 51, true) or size) + 1
  end
  if all_live then
    local expires = string.format('%d', now + ttl)
    -- Its expiry is now the latest, so the key outlives it by one TTL.
    redis.call('SETRANGE', KEYS[1], at + 36, expires)
    redis.call('PEXPIREAT', KEYS[1], now + ttl + ttl)
    local stop = find(raw, ';', at, true)
    local record = sub(raw, at, at + 36) .. expires .. sub(raw, at + 50, (stop or (size + 1)) - 1)
    return { 'renewed', 0, limit, count, record }
  end
end

-- @prelude

number_arg(4, 'default limit')

local live, expired = decode_live(raw, now)
for _, l in ipairs(live) do
  if l.id == ARGV[2] then
    l.expires = now + ttl
    save(KEYS[1], live, ttl)
    return { 'renewed', expired, user_limit(KEYS[3], ARGV[4]), #live, encode(l) }
  end
end

-- Ended on purpose (within one TTL): never restored.
local tomb = redis.call('HGET', KEYS[2], ARGV[2])
if tomb then
  local reason, by = string.match(tomb, '^([^|]*)|([^|]*)|')
  local ended_at = ended_at_of(tomb)
  if ended_at + ttl > now then
    if expired > 0 then save(KEYS[1], live, ttl) end
    return { 'ended', expired, reason, by, ended_at }
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
  return { 'not_found', expired }
end
local limit = user_limit(KEYS[3], ARGV[4])
if #live >= limit then
  if expired > 0 then save(KEYS[1], live, ttl) end
  return { 'denied', expired, limit, #live, records(live) }
end
local lease = { id = ARGV[2], expires = now + ttl, acquired = now, stream = stream, device = device, name = name }
live[#live + 1] = lease
save(KEYS[1], live, ttl)
return { 'restored', expired, limit, #live, encode(lease) }
