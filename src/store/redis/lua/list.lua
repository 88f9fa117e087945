#!lua flags=no-writes
-- list: the user's live leases and limit. Read-only.
--
-- KEYS[1] leases string, KEYS[2] limit override
-- ARGV[1] now ('' = Redis TIME)   ARGV[2] limit without an override (the token's, else the default)
--
-- Returns {limit, source, {record, ...}}, records in the order the leases were
-- taken; `source` is 'o' when the limit override decided the limit, 'f' when ARGV[2] did
--
-- Example:
--   FCALL list_<version> 2 sl:{alice}:l sl:{alice}:limit '' 3
--   -> {3, 'f', {'0b7c...e1|1700000030000|1700000000000|movie-42|'}}

expect_args(2, 2, 2)
number_arg(2, 'limit')
local live = load_live(KEYS[1], now_ms())
local limit, source = user_limit(KEYS[2], ARGV[2])
return { limit, source, records(live) }
