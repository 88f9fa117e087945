-- wrk: heartbeats with a player token, over the lines of the file $LEASES:
-- "/v1/users/{user}/leases/{lease_id} {token}", round robin. With ONCE=1,
-- the run stops once every line was answered: each token is sent about
-- once (up to the connections in flight more).
local requests = {}
for line in io.lines(os.getenv("LEASES")) do
  local path, token = line:match("^(%S+) (%S+)$")
  requests[#requests + 1] = wrk.format("POST", path .. "/heartbeat", { Authorization = "Bearer " .. token })
end
local once = os.getenv("ONCE") == "1"
local n, answered = 0, 0

request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end

response = function()
  answered = answered + 1
  if once and answered >= #requests then wrk.thread:stop() end
end
