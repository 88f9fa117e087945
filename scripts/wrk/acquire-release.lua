-- wrk: acquire a lease for a fresh user, then release it (by its Location),
-- over and over; each pair is two requests.
local n, pending = 0, {}
local body = '{"stream_id":"title-1"}'
local headers = { ["Content-Type"] = "application/json" }

request = function()
  local lease = table.remove(pending)
  if lease then return wrk.format("DELETE", lease) end
  n = n + 1
  return wrk.format("POST", "/v1/users/pair-" .. n .. "/leases", headers, body)
end

response = function(status, response_headers)
  local location = response_headers["Location"] or response_headers["location"]
  if status == 201 and location then pending[#pending + 1] = location end
end
