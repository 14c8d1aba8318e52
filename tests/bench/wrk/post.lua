-- wrk script for the benchmarks. Environment:
--   BENCH_KEYS   file with one API key a line (one key = the hot-key arm)
--   BENCH_BODY   file with the JSON request body
--   BENCH_ORG    value of the OpenAI-Organization header ("sse" selects the streamed body)
--   BENCH_DELAY  optional per-request delay in ms (rate-limited soak)
-- A body holding the mark @@TURN@@ gets a number of its own there on every request, so
-- that text is new each time (nothing a gateway keeps from an earlier request applies).
local keys = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do
  if #line > 0 then keys[#keys + 1] = "Bearer " .. line end
end
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local org = os.getenv("BENCH_ORG") or "plain"
local mark_at, mark_end = body:find("@@TURN@@", 1, true)
local head, tail, turn = nil, nil, 0
if mark_at then
  head, tail = body:sub(1, mark_at - 1), body:sub(mark_end + 1)
end
local pause = tonumber(os.getenv("BENCH_DELAY") or "0")

seed = "0"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  seed = tostring(math.random(1, 1000000000))  -- runs of the same body differ too
end

function request()
  local headers = {
    ["Content-Type"] = "application/json",
    ["OpenAI-Organization"] = org,
    ["Authorization"] = keys[math.random(#keys)],
  }
  local sent = body
  if head then
    turn = turn + 1
    sent = head .. seed .. "-" .. turn .. tail
  end
  return wrk.format("POST", "/v1/chat/completions", headers, sent)
end

if pause > 0 then
  function delay() return pause end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d "
      .. "p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
