-- wrk: heartbeats as the browser client sends them, over the lease paths
-- listed in the file $LEASES (one "/v1/users/{user}/leases/{lease_id}" a
-- line), round robin. The client's usual heartbeat has no body; what comes
-- with it is what Chromium adds to a cross-origin fetch: the CORS request
-- headers, client hints, fetch metadata. The service answers with its CORS
-- headers (run it with STREAMLEASE_CORS_ORIGINS=https://player.example).
local paths = {}
for line in io.lines(os.getenv("LEASES")) do paths[#paths + 1] = line .. "/heartbeat" end
local n = 0

local headers = {
  ["Content-Length"] = "0",
  ["sec-ch-ua-platform"] = '"Linux"',
  ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
  ["sec-ch-ua"] = '"Chromium";v="156", "Not-A.Brand";v="24"',
  ["sec-ch-ua-mobile"] = "?0",
  ["Accept"] = "*/*",
  ["Origin"] = "https://player.example",
  ["Sec-Fetch-Site"] = "cross-site",
  ["Sec-Fetch-Mode"] = "cors",
  ["Sec-Fetch-Dest"] = "empty",
  ["Referer"] = "https://player.example/",
  ["Accept-Encoding"] = "gzip, deflate, br, zstd",
  ["Accept-Language"] = "en-US,en;q=0.9",
}

request = function()
  n = n + 1
  return wrk.format("POST", paths[(n % #paths) + 1], headers)
end
