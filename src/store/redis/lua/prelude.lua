-- Helpers shared by every lease script; put after each one's shebang line when the
-- scripts are built (see scripts.rs), so they exist once in the source.
--
-- Keys of one user, all with the hash tag {u} (one cluster slot):
--   <prefix>:{u}:l      STRING the user's leases; expires one TTL after its last lease
--   <prefix>:{u}:e      HASH lease_id -> tombstone; expires one TTL after the last end
--   <prefix>:{u}:limit  STRING limit override; the only key without a TTL
--
-- The leases string is records joined by ';', one per lease, in the order
-- the leases were taken:
--   "lease_id|expires_at|acquired_at|stream_id|device_id"
-- followed by "|device_name" when the lease has a name. The name is free
-- text that the service sends with '%', '|' and ';' percent-escaped; the
-- scripts store and copy it without reading it.
-- A tombstone is "reason|by_lease_id|ended_at". Beside the tombstones, the
-- field '~' may hold "restores blocked until" (ms): set when the cap below
-- drops tombstones that were still within their TTL, so the leases they
-- stood for cannot be restored in that time (they ended; they must not come
-- back just because the cap forgot why).
--
-- ARGV[1] of every script is '' in production, where Redis TIME decides;
-- tests may pass a time in ms to run the scripts on their own clock.
--
-- A record this file cannot read raises an error whose code is CORRUPT:
-- the service then answers 500 and logs it, rather than guessing.
-- Times are ms since the epoch by Redis TIME: the one clock that decides.
-- Ids cannot contain '|' or ';' (the service validates them); device_id and
-- by_lease_id are '' when absent.
--
-- Why one string and not a hash field per lease: the scripts read every lease
-- of the user anyway (to count them), and a string has no encoding threshold,
-- whereas a hash leaves its compact form once a value passes 64 bytes, which
-- a record with a UUID device id does. See docs/design.md, "Storage".

-- Most tombstones kept per user, oldest dropped first: a client ending
-- leases in a tight loop must not make each call walk thousands of them.
-- Same as MAX_TOMBSTONES in src/domain/ledger.rs.
local MAX_TOMBSTONES = 64
local RESTORES_BLOCKED = '~'

-- Every script checks what it was given before it reads or writes a key: a
-- caller sending the wrong arguments (another version of the service, a
-- hand-typed EVALSHA) gets an error that names them, never a half-done
-- write. The error code BADARGS reaches the service as a failed call.
local function bad_args(problem)
  error({ err = 'BADARGS ' .. problem })
end

-- Exactly `keys` keys, and `least` to `most` arguments (`most` nil: no
-- upper bound); ARGV[1], the time, empty or a number.
local function expect_args(keys, least, most)
  if #KEYS ~= keys then bad_args(string.format('%d keys, expected %d', #KEYS, keys)) end
  if #ARGV < least or (most and #ARGV > most) then
    bad_args(string.format('%d arguments, expected %d to %s', #ARGV, least, most or 'any'))
  end
  if ARGV[1] ~= '' and not tonumber(ARGV[1]) then bad_args('ARGV[1] (now) is not a number') end
end

-- ARGV[i] as a number, or an error naming it as `what`.
local function number_arg(i, what)
  local n = tonumber(ARGV[i])
  if not n then bad_args(string.format('ARGV[%d] (%s) is not a number: %q', i, what, string.sub(ARGV[i], 1, 40))) end
  return n
end

local function now_ms()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function corrupt(what, value)
  error({ err = 'CORRUPT ' .. what .. ' ' .. string.format('%q', string.sub(tostring(value), 1, 200)) })
end

local function decode(record)
  -- Most leases have no name: try that form first.
  local n = ''
  local id, e, a, s, d = string.match(record, '^([^|]+)|(%d+)|(%d+)|([^|]+)|([^|]*)$')
  if not id then
    id, e, a, s, d, n = string.match(record, '^([^|]+)|(%d+)|(%d+)|([^|]+)|([^|]*)|([^|]+)$')
  end
  if not id then corrupt('lease record', record) end
  return { id = id, expires = tonumber(e), acquired = tonumber(a), stream = s, device = d, name = n }
end

-- When a tombstone "reason|by_lease_id|ended_at" ended.
local function ended_at_of(tombstone)
  local at = tonumber(string.match(tombstone, '^[^|]*|[^|]*|(%d+)$'))
  if not at then corrupt('tombstone', tombstone) end
  return at
end

local function encode(l)
  local record = string.format('%s|%d|%d|%s|%s', l.id, l.expires, l.acquired, l.stream, l.device)
  if l.name ~= '' then record = record .. '|' .. l.name end
  return record
end

local function user_limit(limit_key, default)
  local stored = redis.call('GET', limit_key)
  if not stored then return tonumber(default) end
  local limit = tonumber(stored)
  if not limit then corrupt('limit override', stored) end
  return limit
end

-- The user's live leases, in the order they were taken, and how many
-- expired ones were stored beside them. Whoever saves the result drops those
-- and reports the number, so each expiry is counted once across instances.
local function decode_live(raw, now)
  local live, expired = {}, 0
  for record in string.gmatch(raw, '[^;]+') do
    local l = decode(record)
    if l.expires > now then live[#live + 1] = l else expired = expired + 1 end
  end
  return live, expired
end

local function load_live(leases_key, now)
  return decode_live(redis.call('GET', leases_key) or '', now)
end

-- Counts live and expired records without building anything per lease (the
-- census reads every user, so this is its hot loop). Only when some expired,
-- a second pass joins the live records again and finds their latest expiry.
local function count_live(raw, now)
  local live, expired = 0, 0
  local at = 1
  while at <= #raw do
    local bar = string.find(raw, '|', at, true)
    local bar2 = bar and string.find(raw, '|', bar + 1, true)
    local expires = bar2 and tonumber(string.sub(raw, bar + 1, bar2 - 1))
    if not expires then corrupt('leases', raw) end
    if expires > now then live = live + 1 else expired = expired + 1 end
    at = (string.find(raw, ';', bar2, true) or #raw) + 1
  end
  if expired == 0 then return live, 0 end
  local kept, last = {}, 0
  for record in string.gmatch(raw, '[^;]+') do
    local l = decode(record)
    if l.expires > now then
      kept[#kept + 1] = record
      if l.expires > last then last = l.expires end
    end
  end
  return live, expired, table.concat(kept, ';'), last
end

-- Writes the live leases back (expired ones are gone from here on). The key
-- outlives its last lease by one TTL, a grace in which the metrics census
-- finds and counts the abandoned leases; then it vanishes by itself.
local function save(leases_key, live, ttl)
  if #live == 0 then
    redis.call('DEL', leases_key)
    return
  end
  local records, last = {}, 0
  for i, l in ipairs(live) do
    records[i] = encode(l)
    if l.expires > last then last = l.expires end
  end
  redis.call('SET', leases_key, table.concat(records, ';'), 'PXAT', last + ttl)
end

-- Removes the leases `ids` from `live` and leaves a tombstone for each that a
-- heartbeat will find for one TTL. Tombstones older than that are dropped.
-- Beyond MAX_TOMBSTONES the oldest go, by (ended_at, lease_id), whether old
-- or just made; restores stay blocked while a dropped one would have lasted.
-- The same rule as `Ledger::end`. The caller saves `live`.
local function end_leases(ended_key, live, ids, reason, by, now, ttl)
  if #ids == 0 then return end
  local gone = {}
  for _, id in ipairs(ids) do gone[id] = true end
  for i = #live, 1, -1 do
    if gone[live[i].id] then table.remove(live, i) end
  end

  local flat = redis.call('HGETALL', ended_key)
  local stale, kept, blocked = {}, {}, 0
  for i = 1, #flat, 2 do
    local field, value = flat[i], flat[i + 1]
    if field == RESTORES_BLOCKED then
      blocked = tonumber(value) or corrupt('restore block', value)
      if blocked <= now then stale[#stale + 1] = field end
    else
      local ended_at = ended_at_of(value)
      if ended_at + ttl <= now then
        stale[#stale + 1] = field
      else
        kept[#kept + 1] = { id = field, ended_at = ended_at }
      end
    end
  end
  -- A lease ended again (its id was acquired anew) replaces its old
  -- tombstone, as a map entry would.
  local at = {}
  for i, t in ipairs(kept) do at[t.id] = i end
  for _, id in ipairs(ids) do
    local tombstone = { id = id, ended_at = now, new = true, stored = at[id] ~= nil }
    if at[id] then kept[at[id]] = tombstone else kept[#kept + 1] = tombstone end
  end
  local excess = #kept - MAX_TOMBSTONES
  if excess > 0 then
    table.sort(kept, function(a, b)
      if a.ended_at ~= b.ended_at then return a.ended_at < b.ended_at end
      return a.id < b.id
    end)
    for i = 1, excess do
      local dropped = kept[i]
      dropped.dropped = true
      if dropped.stored or not dropped.new then stale[#stale + 1] = dropped.id end
      if dropped.ended_at + ttl > blocked then blocked = dropped.ended_at + ttl end
    end
  end
  if #stale > 0 then redis.call('HDEL', ended_key, unpack(stale)) end
  local fields = {}
  for _, t in ipairs(kept) do
    if t.new and not t.dropped then
      fields[#fields + 1] = t.id
      fields[#fields + 1] = string.format('%s|%s|%d', reason, by, now)
    end
  end
  if blocked > now then
    fields[#fields + 1] = RESTORES_BLOCKED
    fields[#fields + 1] = blocked
  end
  if #fields > 0 then redis.call('HSET', ended_key, unpack(fields)) end
  redis.call('PEXPIREAT', ended_key, now + ttl)
end

-- True while the cap above has blocked restores for this user.
local function restores_blocked(ended_key, now)
  local until_ms = redis.call('HGET', ended_key, RESTORES_BLOCKED)
  return until_ms and tonumber(until_ms) > now
end

-- Records of `leases`, for replies.
local function records(leases)
  local out = {}
  for i, l in ipairs(leases) do out[i] = encode(l) end
  return out
end
