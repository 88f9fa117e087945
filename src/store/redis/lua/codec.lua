-- The records the lease scripts keep, and the only code that reads or
-- writes them. Second in the library, after inputs.lua (see scripts.rs);
-- `src/store/redis/record.rs` is the service's one reader of the same
-- layout.
--
-- The leases string is records joined by ';', one per lease, in the order
-- the leases were taken:
--   "lease_id|expires_at|acquired_at|stream_id|device_id"
-- followed by "|device_name" when the lease has a name, and by
-- "|device_name|classes" when it has classes (the name then may be ''), so
-- a lease without classes costs what it did before classes existed. The
-- name is free text that the service sends with '%', '|' and ';'
-- percent-escaped; the scripts store and copy it without reading it. Ids
-- cannot contain '|' or ';' (the service validates them); device_id is ''
-- when absent. Classes are names of a-z 0-9 _ - joined by ','.
-- A tombstone is "reason|by_lease_id|ended_at", by_lease_id '' when absent.
-- A limit override is the total limit in digits, followed by
-- ";class=n,class=n" when it states class limits.
-- Times are ms since the epoch.
--
-- A record this file cannot read raises an error whose code is CORRUPT:
-- the service then answers 500 and logs it, rather than guessing.
--
-- Why one string and not a hash field per lease: the scripts read every lease
-- of the user anyway (to count them), and a string has no encoding threshold,
-- whereas a hash leaves its compact form once a value passes 64 bytes, which
-- a record with a UUID device id does. See docs/design.md, "Storage".

local function corrupt(what, value)
  error({ err = 'CORRUPT ' .. what .. ' ' .. string.format('%q', string.sub(tostring(value), 1, 200)) })
end

-- The digits of a whole number, for a record, a reply or a command. Lua's
-- own conversion (a number in '..', or passed to redis.call) prints with
-- '%.14g', through the C library's floating-point printer: '%d' instead
-- saved the heartbeat's four numbers 1.7k instructions. Limits and counts
-- are mostly small: their digits are made once, when the library loads
-- (with '..', since the loading code may not use `string`), and looked up,
-- another 2.8k fewer (docs/performance.md).
local SMALL = {}
for i = 0, 99 do
  SMALL[i] = '' .. i
end
local function digits(n)
  return SMALL[n] or string.format('%d', n)
end

local function decode(record)
  -- Most leases have no name and no class: try that form first.
  local n, c = '', ''
  local id, e, a, s, d = string.match(record, '^([^|]+)|(%d+)|(%d+)|([^|]+)|([^|]*)$')
  if not id then
    id, e, a, s, d, n = string.match(record, '^([^|]+)|(%d+)|(%d+)|([^|]+)|([^|]*)|([^|]+)$')
  end
  if not id then
    id, e, a, s, d, n, c = string.match(record, '^([^|]+)|(%d+)|(%d+)|([^|]+)|([^|]*)|([^|]*)|([%w_,-]+)$')
  end
  if not id then corrupt('lease record', record) end
  return { id = id, expires = tonumber(e), acquired = tonumber(a), stream = s, device = d, name = n, classes = c }
end

local function encode(l)
  local record = string.format('%s|%d|%d|%s|%s', l.id, l.expires, l.acquired, l.stream, l.device)
  if l.classes ~= '' then return record .. '|' .. l.name .. '|' .. l.classes end
  if l.name ~= '' then record = record .. '|' .. l.name end
  return record
end

-- Records of `leases`, for replies.
local function records(leases)
  local out = {}
  for i, l in ipairs(leases) do out[i] = encode(l) end
  return out
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

-- A renewal in place, for the heartbeat's hot path: most records have a
-- fixed-width head, a 36-character lease id (a UUID), '|', 13 expiry digits,
-- '|'. Ms since the epoch have 13 digits until the year 2286, so expiries of
-- that width compare as strings, and a new expiry overwrites the old one
-- byte for byte. Walks the heads without building a table per record.
-- For the record of `lease_id` in `raw`: when every record has that head
-- and is live at `now`, returns how many there are, the byte offset
-- (0-based, for SETRANGE) and digits of the new expiry `now + ttl`, and the
-- renewed record. Returns nil for anything else, left to `decode`.
local function fixed_renewal(raw, lease_id, now, ttl)
  local find, sub, byte = string.find, string.sub, string.byte
  local at = find(raw, lease_id, 1, true)
  -- Only ';' comes before a record (ids cannot contain it), so a match
  -- anywhere else (another record's stream, say) is not this lease's head.
  if not at or (at > 1 and byte(raw, at - 1) ~= 59) or now < 1e12 or now + ttl >= 1e13 then return nil end
  local now_s = string.format('%d', now)
  local count, from, size = 0, 1, #raw
  while from <= size do
    -- Expiry digits at from+37..from+49, framed by '|' at +36 and +50.
    if byte(raw, from + 36) ~= 124 or byte(raw, from + 50) ~= 124 or sub(raw, from + 37, from + 49) <= now_s then
      return nil
    end
    count = count + 1
    from = (find(raw, ';', from + 51, true) or size) + 1
  end
  local expires = string.format('%d', now + ttl)
  local stop = find(raw, ';', at, true) or (size + 1)
  return count, at + 36, expires, sub(raw, at, at + 36) .. expires .. sub(raw, at + 50, stop - 1)
end

local function tombstone(reason, by, ended_at)
  return string.format('%s|%s|%d', reason, by, ended_at)
end

-- A tombstone's reason, by_lease_id ('' when none) and end.
local function decode_tombstone(t)
  local reason, by, at = string.match(t, '^([^|]*)|([^|]*)|(%d+)$')
  if not reason then corrupt('tombstone', t) end
  return reason, by, tonumber(at)
end

-- The total limit of the user whose override is at `limit_key`, which one
-- decided it: 'o' the override, 'f' the `fallback` (the service sends the
-- limit the player's token carries, else the default; a number, checked by
-- the caller), and the class limits the override states ("uhd=2,...", ''
-- for none). The replies carry the source, so the service can say where a
-- limit came from.
local function user_limit(limit_key, fallback)
  local stored = redis.call('GET', limit_key)
  if not stored then return tonumber(fallback), 'f', '' end
  local limit = tonumber(stored)
  if limit then return limit, 'o', '' end
  local total, classes = string.match(stored, '^(%d+);([%w_=,-]*)$')
  if not total then corrupt('limit override', stored) end
  return tonumber(total), 'o', classes
end
