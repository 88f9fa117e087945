#!lua
-- acquire: take a slot for a stream, or renew the device's lease, or refuse.
--
-- KEYS[1] leases string, KEYS[2] tombstones hash, KEYS[3] limit override
-- ARGV[1] now ('' = Redis TIME)                ARGV[2] deadline in ms, '' for none
-- ARGV[3] new lease id (minted by the caller)  ARGV[4] stream_id
-- ARGV[5] device_id, '' for none               ARGV[6] TTL in ms
-- ARGV[7] limit without an override (the token's, else the default)
-- ARGV[8] 'deny' | 'evict_oldest'
-- ARGV[9] device_name, escaped, '' for none
-- ARGV[10] the lease's classes, 'a,b', '' for none
-- ARGV[11] class limits without an override, 'a=1,b=*' ('' when no class is
--          configured; see class_limits in prelude.lua)
-- ARGV[12..] lease ids to terminate first
--
-- Returns one of
--   {'created', expired, limit, source, active, record, {evicted ids}, {terminated ids}}
--   {'renewed', expired, limit, source, active, record, {evicted ids}, {terminated ids}}
--   {'denied',  expired, limit, source, active, {record, ...}, {terminated ids}, limit_class}
--   {'too_late', 0}   run after the deadline: the caller gave up; nothing changed
-- where `expired` counts the expired leases this call dropped, and `source`
-- is 'o' when the limit override decided the limit, 'f' when ARGV[7] (or
-- ARGV[11], for a class) did. `limit` and `active` are the total's and
-- all live leases, except in 'denied': there they are those of the limit
-- that refused, `limit_class` ('total' or a class), and the records are
-- the live leases counting against it.
--
-- The deadline is the caller's: by then it has answered 503, so a slot taken
-- later (Redis stalled, then resumed) would belong to nobody.
--
-- Example:
--   FCALL acquire_<version> 3 sl:{alice}:l sl:{alice}:e sl:{alice}:limit
--           '' 1700000000750 0b7c...e1 movie-42 living-room-tv 30000 3 deny 'Living room TV' uhd uhd=1
--   -> {'created', 0, 3, 'f', 1, '0b7c...e1|1700000030000|1700000000000|movie-42|living-room-tv|Living room TV|uhd', {}, {}}

expect_args(3, 11)
if ARGV[8] ~= 'deny' and ARGV[8] ~= 'evict_oldest' then bad_args('ARGV[8] (on_limit) is neither deny nor evict_oldest') end
local ttl = number_arg(6, 'TTL')
number_arg(7, 'limit')
local now = now_ms()
if ARGV[2] ~= '' and now > number_arg(2, 'deadline') then return { 'too_late', 0 } end
local limit, source, overridden = user_limit(KEYS[3], ARGV[7])
local rules = class_limits(ARGV[11], overridden)
local classes = ARGV[10]
local live, expired = load_live(KEYS[1], now)

-- The same acquire again (the connection broke before its answer came
-- back, and the store sent it anew): it already holds its slot. Nothing is
-- written, so nothing expired is dropped or counted here.
for _, l in ipairs(live) do
  if l.id == ARGV[3] then return { 'created', 0, limit, source, #live, encode(l), {}, {} } end
end

-- Terminations: the named ids that are live leases of this user, once each.
local is_live, doomed, terminate = {}, {}, {}
for _, l in ipairs(live) do is_live[l.id] = l end
for i = 12, #ARGV do
  local id = ARGV[i]
  if is_live[id] and not doomed[id] then
    doomed[id] = true
    terminate[#terminate + 1] = id
  end
end

-- A device holds at most one lease: it is renewed instead of taking a
-- slot, and moved to this stream and these classes (the next episode keeps
-- the slot).
local device, name = ARGV[5], ARGV[9]
local mine
if device ~= '' then
  for _, l in ipairs(live) do
    if l.device == device and not doomed[l.id] then
      mine = l
      break
    end
  end
end

-- The limits the lease needs a slot in: those of its classes, less those
-- the device's lease already holds one in (so it is renewed even at the
-- limit, as long as it stays in its classes).
local held, needed = {}, {}
if mine then
  for _, b in ipairs(bounds(rules, mine.classes)) do held[b] = true end
end
for _, b in ipairs(bounds(rules, classes)) do
  if not held[b] then needed[#needed + 1] = b end
end
local function limit_of(b)
  if b == TOTAL then return limit, source end
  return rules[b].limit, rules[b].source
end
local function refusal(b, terminated)
  local n, src = limit_of(b)
  local m = members(rules, live, b)
  return { 'denied', expired, n, src, #m, records(m), terminated, b }
end

-- At a limit, each lease to terminate must free a slot that limit needs;
-- otherwise nothing is ended and the limit is named.
local full_now = {}
for _, b in ipairs(needed) do
  if #members(rules, live, b, function(l) return l == mine end) >= limit_of(b) then full_now[#full_now + 1] = b end
end
if #full_now > 0 then
  for _, id in ipairs(terminate) do
    local frees = false
    for _, b in ipairs(full_now) do frees = frees or counts_against(rules, is_live[id], b) end
    if not frees then
      if expired > 0 then save(KEYS[1], live, ttl) end
      return refusal(full_now[1], {})
    end
  end
end

-- Room in each needed limit, in order; evict_oldest makes it with enough of
-- the least recently renewed (earliest expiry, as every lease has the same
-- TTL): more than one only after a limit was lowered.
local evicted, gone, refused = {}, {}, nil
local function leaving(l) return l == mine or doomed[l.id] or gone[l.id] end
for _, b in ipairs(needed) do
  local n = limit_of(b)
  local m = members(rules, live, b, leaving)
  if #m >= n then
    local excess = #m + 1 - n
    if ARGV[8] == 'deny' or excess > #m then
      refused = b
      break
    end
    table.sort(m, function(x, y)
      if x.expires ~= y.expires then return x.expires < y.expires end
      if x.acquired ~= y.acquired then return x.acquired < y.acquired end
      return x.id < y.id
    end)
    for i = 1, excess do
      evicted[#evicted + 1] = m[i].id
      gone[m[i].id] = true
    end
  end
end
if refused then
  -- The terminations were asked for in their own right: they hold even
  -- when the acquire is still denied.
  end_leases(KEYS[2], live, terminate, 'terminated', '', now, ttl)
  if #terminate > 0 or expired > 0 then save(KEYS[1], live, ttl) end
  return refusal(refused, terminate)
end

local id = mine and mine.id or ARGV[3]
end_leases(KEYS[2], live, terminate, 'terminated', id, now, ttl)
end_leases(KEYS[2], live, evicted, 'evicted', id, now, ttl)
if mine then
  mine.stream, mine.expires, mine.classes = ARGV[4], now + ttl, classes
  if name ~= '' then mine.name = name end
  save(KEYS[1], live, ttl)
  return { 'renewed', expired, limit, source, #live, encode(mine), evicted, terminate }
end
local lease = { id = id, expires = now + ttl, acquired = now, stream = ARGV[4], device = device, name = name, classes = classes }
live[#live + 1] = lease
save(KEYS[1], live, ttl)
return { 'created', expired, limit, source, #live, encode(lease), evicted, terminate }
