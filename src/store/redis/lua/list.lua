-- list: the user's live leases and limit. Read-only.
--
-- KEYS[1] leases hash, KEYS[2] limit override
-- ARGV[1] default limit
--
-- Returns {limit, {lease_id, record, lease_id, record, ...}} (unordered)
--
-- Example:
--   EVALSHA <sha> 2 sl:{alice}:l sl:{alice}:limit 3
--   -> {3, {'0b7c...e1', '1700000030000|1700000000000|1700000000000|movie-42|'}}

local now = now_ms()
local flat = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #flat, 2 do
  if decode(flat[i], flat[i + 1]).expires > now then
    live[#live + 1] = flat[i]
    live[#live + 1] = flat[i + 1]
  end
end
return { user_limit(KEYS[2], ARGV[1]), live }
