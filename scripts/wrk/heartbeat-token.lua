-- wrk: heartbeats with a player token, over the lines of the file $LEASES:
-- "/v1/users/{user}/leases/{lease_id} {token}", round robin. With ONCE=1,
-- the run stops once every line was answered: each token is sent about
-- once (up to the connections in flight more).
local lines = {}
for line in io.lines(os.getenv("LEASES")) do lines[#lines + 1] = line end
local requests = {}
local once = os.getenv("ONCE") == "1"
local n, answered = 0, 0

init = function()
  for _, line in ipairs(lines) do
    local path, token = line:match("^(%S+) (%S+)$")
    -- Headers of our own replace wrk's, Host included.
    local headers = { Host = wrk.headers["Host"], Authorization = "Bearer " .. token }
    requests[#requests + 1] = wrk.format("POST", path .. "/heartbeat", headers)
  end
end

request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end

response = function()
  answered = answered + 1
  if once and answered >= #requests then wrk.thread:stop() end
end
