#!lua flags=allow-oom
-- census: one user's live lease count and limit, for the metrics gauges.
-- Drops the user's expired leases and reports how many, so abandoned
-- leases are counted even when no request for the user ever comes again.
--
-- KEYS[1] leases string, KEYS[2] limit override
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] default limit   ARGV[3] TTL in ms
--
-- Returns {'census', expired, limit, active}
--
-- Example:
--   FCALL census_<version> 2 sl:{alice}:l sl:{alice}:limit '' 3 30000  -> {'census', 1, 3, 2}

expect_args(2, 3, 3)
number_arg(2, 'default limit')
local ttl = number_arg(3, 'TTL')
local active, expired, kept, last = count_live(redis.call('GET', KEYS[1]) or '', now_ms())
if expired > 0 then
  if active == 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], kept, 'PXAT', last + ttl)
  end
end
return { 'census', expired, user_limit(KEYS[2], ARGV[2]), active }
