-- wrk script: POST the JSON file named by $BODY to the URL's path on 127.0.0.1, each wrk thread on
-- one of the ports in $PORTS (comma-separated) in turn, so -t2 with two ports loads two replicas
-- from one wrk and one latency histogram. Prints "2xx <n>" and "2xx port <port> <n>" at the end:
-- the answers a benchmark may compare with the rows recorded.
local file = assert(io.open(os.getenv("BODY"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local ports = {}
for port in string.gmatch(os.getenv("PORTS"), "%d+") do ports[#ports + 1] = port end
local threads = {}

function setup(thread)
  local port = ports[#threads % #ports + 1]
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
  thread:set("port", port)
  threads[#threads + 1] = thread
end

function init(args)
  ok = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    local n = thread:get("ok")
    total = total + n
    io.write(string.format("2xx port %s %d\n", thread:get("port"), n))
  end
  io.write(string.format("2xx %d\n", total))
end
