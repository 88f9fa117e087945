-- Helpers shared by every lease script; prepended to each one when the
-- scripts are built (see scripts.rs), so they exist once in the source.
--
-- Keys of one user, all with the hash tag {user_id} (one cluster slot):
--   <prefix>:{u}:l      HASH lease_id -> lease record; expires with its last lease
--   <prefix>:{u}:e      HASH lease_id -> tombstone; expires one TTL after the last end
--   <prefix>:{u}:limit  STRING limit override; the only key without a TTL
--
-- Lease record:  "expires_at|renewed_at|acquired_at|stream_id|device_id"
-- Tombstone:     "reason|by_lease_id|ended_at"
-- Times are ms since the epoch by Redis TIME: the one clock that decides.
-- Ids cannot contain '|' (the service validates them), and device_id and
-- by_lease_id are '' when absent.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function decode(id, record)
  local e, r, a, s, d = string.match(record, '^(%d+)|(%d+)|(%d+)|([^|]*)|(.*)$')
  return { id = id, expires = tonumber(e), renewed = tonumber(r), acquired = tonumber(a), stream = s, device = d }
end

local function encode(l)
  return string.format('%d|%d|%d|%s|%s', l.expires, l.renewed, l.acquired, l.stream, l.device)
end

local function user_limit(limit_key, default)
  return tonumber(redis.call('GET', limit_key) or default)
end

-- The live leases of the user; expired records are deleted on the way.
local function load_live(leases_key, now)
  local flat = redis.call('HGETALL', leases_key)
  local live, expired = {}, {}
  for i = 1, #flat, 2 do
    local l = decode(flat[i], flat[i + 1])
    if l.expires > now then live[#live + 1] = l else expired[#expired + 1] = l.id end
  end
  if #expired > 0 then redis.call('HDEL', leases_key, unpack(expired)) end
  return live
end

-- The hash lives exactly as long as its longest-lived lease, so an abandoned
-- user's keys vanish by themselves.
local function fit_expiry(leases_key, live)
  local last = 0
  for _, l in ipairs(live) do
    if l.expires > last then last = l.expires end
  end
  if last > 0 then redis.call('PEXPIREAT', leases_key, last) else redis.call('DEL', leases_key) end
end

-- Ends the leases `ids` (all in `live`), leaving a tombstone for each that a
-- heartbeat will find for one TTL. Tombstones older than that are dropped.
local function end_leases(leases_key, ended_key, live, ids, reason, by, now, ttl)
  if #ids == 0 then return end
  local gone = {}
  for _, id in ipairs(ids) do gone[id] = true end
  for i = #live, 1, -1 do
    if gone[live[i].id] then table.remove(live, i) end
  end
  redis.call('HDEL', leases_key, unpack(ids))

  local flat = redis.call('HGETALL', ended_key)
  local stale = {}
  for i = 1, #flat, 2 do
    if tonumber(string.match(flat[i + 1], '(%d+)$')) + ttl <= now then stale[#stale + 1] = flat[i] end
  end
  if #stale > 0 then redis.call('HDEL', ended_key, unpack(stale)) end
  local fields = {}
  for _, id in ipairs(ids) do
    fields[#fields + 1] = id
    fields[#fields + 1] = string.format('%s|%s|%d', reason, by, now)
  end
  redis.call('HSET', ended_key, unpack(fields))
  redis.call('PEXPIREAT', ended_key, now + ttl)
end
