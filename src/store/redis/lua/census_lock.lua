#!lua flags=allow-oom
-- census_lock: take the fleet's census lock, or keep it. One instance at a
-- time takes the census; the others read what it found (see src/census.rs).
--
-- KEYS[1] the census lock key
-- ARGV[1] now (unused; the first argument of every script)
-- ARGV[2] this instance's id   ARGV[3] the lock's lifetime in ms
--
-- Returns 1 when this instance holds the lock now (taken or renewed), 0
-- when another instance holds it.
--
-- Example:
--   FCALL census_lock_<version> 1 sl:census:lock '' 6f96...ff 15000  -> 1

expect_args(1, 3, 3)
number_arg(3, 'lifetime')
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
