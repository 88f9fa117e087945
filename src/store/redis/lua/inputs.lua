-- What a lease script was given: its arguments, checked before it reads or
-- writes a key, and the time. First in the library (see scripts.rs), whose
-- locals KEYS and ARGV each call sets.
--
-- ARGV[1] of every script is '' in production, where Redis TIME decides;
-- tests may pass a time in ms to run the scripts on their own clock.

-- A caller sending the wrong arguments (another version of the service, a
-- hand-typed FCALL) gets an error that names them, never a half-done
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

-- Now in ms since the epoch: by Redis TIME, the one clock that decides, or
-- ARGV[1] when a test gives it (`expect_args` checked it is a number).
local function now_ms()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  -- Arithmetic converts TIME's strings, and with one C library call each:
  -- Lua 5.1's tonumber() makes two (it checks, then converts).
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
