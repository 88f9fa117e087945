-- wrk: heartbeats over the lease paths listed in the file $LEASES
-- (one "/v1/users/{user}/leases/{lease_id}" a line), round robin.
local paths = {}
for line in io.lines(os.getenv("LEASES")) do paths[#paths + 1] = line .. "/heartbeat" end
local n = 0

request = function()
  n = n + 1
  return wrk.format("POST", paths[(n % #paths) + 1])
end
