-- wrk: heartbeats with lease tokens on, as the browser client sends them at
-- the default interval (10 s) and TTL (30 s). Over the lines of $LEASES,
-- "/v1/users/{user}/leases/{lease_id} {lease_token}", each lease is
-- heartbeated in turn with its token sent back in Lease-Token (it still has
-- more than half its life: no new one is signed) and without (as when it
-- has less: one is signed). A client's token, signed at a renewal, has 20 s
-- left at the next heartbeat and 10 s at the one after, so it is signed
-- anew every other heartbeat: half, as here. With EVERY=1, no heartbeat
-- sends a token: a signature on each, the worst case.
local lines = {}
for line in io.lines(os.getenv("LEASES")) do
  if line ~= "" then lines[#lines + 1] = line end
end
local every = os.getenv("EVERY") == "1"
local requests = {}
local n = 0

init = function()
  for _, line in ipairs(lines) do
    local path, token = line:match("^(%S+) (%S+)$")
    if not path then error("not a \"path token\" line in $LEASES: " .. line:sub(1, 80)) end
    -- Headers of our own replace wrk's, Host included.
    local bare = wrk.format("POST", path .. "/heartbeat", { Host = wrk.headers["Host"] })
    local held = wrk.format("POST", path .. "/heartbeat", { Host = wrk.headers["Host"], ["Lease-Token"] = token })
    requests[#requests + 1] = bare
    requests[#requests + 1] = every and bare or held
  end
end

request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
