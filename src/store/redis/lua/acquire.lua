#!lua
-- acquire: take a slot for a stream, or renew the device's lease, or refuse.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash, KEYS[3] limit override
-- ARGV[1] now ('' = Redis TIME)                ARGV[2] deadline in ms, '' for none
-- ARGV[3] new lease id (minted by the caller)  ARGV[4] stream_id
-- ARGV[5] device_id, '' for none               ARGV[6] TTL in ms
-- ARGV[7] limit without an override (the token's, else the default)
-- ARGV[8] 'deny' | 'evict_oldest'
-- ARGV[9] device_name, escaped, '' for none    ARGV[10..] lease ids to terminate first
--
-- Returns one of
--   {'created', expired, limit, source, active, record, {evicted ids}, {terminated ids}}
--   {'renewed', expired, limit, source, active, record, {}, {terminated ids}}
--   {'denied',  expired, limit, source, active, {record, ...}, {terminated ids}}
--   {'too_late', 0}   run after the deadline: the caller gave up; nothing changed
-- where `expired` counts the expired leases this call dropped, and `source`
-- is 'o' when the limit override decided the limit, 'f' when ARGV[7] did.
--
-- The deadline is the caller's: by then it has answered 503, so a slot taken
-- later (Redis stalled, then resumed) would belong to nobody.
--
-- Example:
--   EVALSHA <sha> 3 sl:{alice}:l sl:{alice}:e sl:{alice}:limit
--           '' 1700000000750 0b7c...e1 movie-42 living-room-tv 30000 3 deny 'Living room TV'
--   -> {'created', 0, 3, 'f', 1, '0b7c...e1|1700000030000|1700000000000|movie-42|living-room-tv|Living room TV', {}, {}}

expect_args(3, 9)
if ARGV[8] ~= 'deny' and ARGV[8] ~= 'evict_oldest' then bad_args('ARGV[8] (on_limit) is neither deny nor evict_oldest') end
local ttl = number_arg(6, 'TTL')
number_arg(7, 'limit')
local now = now_ms()
if ARGV[2] ~= '' and now > number_arg(2, 'deadline') then return { 'too_late', 0 } end
local limit, source = user_limit(KEYS[3], ARGV[7])
local live, expired = load_live(KEYS[1], now)

-- The same acquire again (the connection broke before its answer came
-- back, and the store sent it anew): it already holds its slot. Nothing is
-- written, so nothing expired is dropped or counted here.
for _, l in ipairs(live) do
  if l.id == ARGV[3] then return { 'created', 0, limit, source, #live, encode(l), {}, {} } end
end

-- Terminations: the named ids that are live leases of this user, once each.
local is_live, doomed, terminate = {}, {}, {}
for _, l in ipairs(live) do is_live[l.id] = true end
for i = 10, #ARGV do
  local id = ARGV[i]
  if is_live[id] and not doomed[id] then
    doomed[id] = true
    terminate[#terminate + 1] = id
  end
end

-- A device holds at most one lease: renew it instead of taking a slot, and
-- move it to this stream (the next episode keeps the slot).
local device, name = ARGV[5], ARGV[9]
if device ~= '' then
  for _, l in ipairs(live) do
    if l.device == device and not doomed[l.id] then
      l.stream, l.expires = ARGV[4], now + ttl
      if name ~= '' then l.name = name end
      end_leases(KEYS[2], live, terminate, 'terminated', l.id, now, ttl)
      save(KEYS[1], live, ttl)
      return { 'renewed', expired, limit, source, #live, encode(l), {}, terminate }
    end
  end
end

local staying = #live - #terminate
if staying >= limit and ARGV[8] == 'deny' then
  -- The terminations were asked for in their own right: they hold even
  -- when the acquire is still denied.
  end_leases(KEYS[2], live, terminate, 'terminated', '', now, ttl)
  if #terminate > 0 or expired > 0 then save(KEYS[1], live, ttl) end
  return { 'denied', expired, limit, source, #live, records(live), terminate }
end

-- evict_oldest: enough of the least recently renewed (earliest expiry, as
-- every lease has the same TTL) to make room for one more; more than one
-- only after the limit was lowered.
local evicted = {}
if staying >= limit then
  local candidates = {}
  for _, l in ipairs(live) do
    if not doomed[l.id] then candidates[#candidates + 1] = l end
  end
  table.sort(candidates, function(a, b)
    if a.expires ~= b.expires then return a.expires < b.expires end
    if a.acquired ~= b.acquired then return a.acquired < b.acquired end
    return a.id < b.id
  end)
  for i = 1, staying + 1 - limit do evicted[i] = candidates[i].id end
end

local id = ARGV[3]
end_leases(KEYS[2], live, terminate, 'terminated', id, now, ttl)
end_leases(KEYS[2], live, evicted, 'evicted', id, now, ttl)
local lease = { id = id, expires = now + ttl, acquired = now, stream = ARGV[4], device = device, name = name }
live[#live + 1] = lease
save(KEYS[1], live, ttl)
return { 'created', expired, limit, source, #live, encode(lease), evicted, terminate }
