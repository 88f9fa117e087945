#!lua flags=no-writes
-- list: the user's live leases and limit. Read-only.
--
-- KEYS[1] leases string, KEYS[2] limit override
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] default limit
--
-- Returns {limit, {record, ...}}, records in the order the leases were taken
--
-- Example:
--   EVALSHA <sha> 2 sl:{alice}:l sl:{alice}:limit '' 3
--   -> {3, {'0b7c...e1|1700000030000|1700000000000|movie-42|'}}

expect_args(2, 2, 2)
number_arg(2, 'default limit')
local live = load_live(KEYS[1], now_ms())
return { user_limit(KEYS[2], ARGV[2]), records(live) }
