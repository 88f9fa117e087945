-- The lease bookkeeping shared by the scripts: loading and saving a user's
-- leases, ending them, and the tombstones they leave. Third in the
-- library, after inputs.lua and codec.lua (see scripts.rs).
--
-- Keys of one user, all with the hash tag {u} (one cluster slot):
--   <prefix>:{u}:l      STRING the user's leases; expires one TTL after its last lease
--   <prefix>:{u}:e      HASH lease_id -> tombstone; expires one TTL after the last end
--   <prefix>:{u}:limit  STRING limit override; the only key without a TTL
-- (codec.lua gives what each holds.) Beside the tombstones, the field '~'
-- may hold "restores blocked until" (ms): set when the cap below drops
-- tombstones that were still within their TTL, so the leases they stood for
-- cannot be restored in that time (they ended; they must not come back just
-- because the cap forgot why).

-- Most tombstones kept per user, oldest dropped first: a client ending
-- leases in a tight loop must not make each call walk thousands of them.
-- Same as MAX_TOMBSTONES in src/domain/ledger.rs.
local MAX_TOMBSTONES = 64
local RESTORES_BLOCKED = '~'

local function load_live(leases_key, now)
  return decode_live(redis.call('GET', leases_key) or '', now)
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
      local _, _, ended_at = decode_tombstone(value)
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
      fields[#fields + 1] = tombstone(reason, by, now)
    end
  end
  if blocked > now then
    fields[#fields + 1] = RESTORES_BLOCKED
    fields[#fields + 1] = blocked
  end
  if #fields > 0 then redis.call('HSET', ended_key, unpack(fields)) end
  redis.call('PEXPIREAT', ended_key, now + ttl)
end

-- The class limits of a user: for each configured class, its limit (nil:
-- exempt, counting against nothing) and 'o' when the override decided it,
-- 'f' when `fallback` did. `fallback` is what the service sends: every
-- configured class as "name=n" (the token's limit, else the default) or
-- "name=*" (exempt), joined by ','; '' when no class is configured.
-- `overridden` is the override's "name=n,..." (user_limit). An exempt class
-- stays exempt whatever the override says. The same rule as
-- `UserLimits::decide` in src/domain/limits.rs.
local TOTAL = 'total'

local function class_limits(fallback, overridden)
  local rules = {}
  if fallback == '' then return rules end
  for name, n in string.gmatch(fallback, '([^,=]+)=([^,]+)') do
    rules[name] = { limit = tonumber(n), source = 'f' }
  end
  for name, n in string.gmatch(overridden, '([^,=]+)=(%d+)') do
    local rule = rules[name]
    if rule and rule.limit then rule.limit, rule.source = tonumber(n), 'o' end
  end
  return rules
end

-- The limits a lease of `classes` ("a,b") counts against: its limited
-- classes in its order, then TOTAL unless one of them is exempt. Refusals
-- name the first that is full, and evictions go in this order (ending a
-- lease of a class frees a slot of the total too). As `UserLimits::bounds`.
local function bounds(rules, classes)
  local out, exempt = {}, false
  for class in string.gmatch(classes, '[^,]+') do
    local rule = rules[class]
    if rule then
      if rule.limit then out[#out + 1] = class else exempt = true end
    end
  end
  if not exempt then out[#out + 1] = TOTAL end
  return out
end

-- Whether lease `l` counts against `bound` (a class, or TOTAL).
local function counts_against(rules, l, bound)
  if bound ~= TOTAL then return string.find(',' .. l.classes .. ',', ',' .. bound .. ',', 1, true) ~= nil end
  for class in string.gmatch(l.classes, '[^,]+') do
    local rule = rules[class]
    if rule and not rule.limit then return false end
  end
  return true
end

-- The leases of `leases` counting against `bound`, leaving out `skip(l)`.
local function members(rules, leases, bound, skip)
  local out = {}
  for _, l in ipairs(leases) do
    if not (skip and skip(l)) and counts_against(rules, l, bound) then out[#out + 1] = l end
  end
  return out
end

-- True while the cap above has blocked restores for this user.
local function restores_blocked(ended_key, now)
  local until_ms = redis.call('HGET', ended_key, RESTORES_BLOCKED)
  return until_ms and tonumber(until_ms) > now
end
