-- wrk script for the scale soak (tests/bench/soak_scale.py): every request the next key and
-- the next end user, rotating. Environment:
--   BENCH_KEYS   fixed-width keys file (tests/bench/bulk_keys.py): one secret a line, all of
--                one length, so the i-th is read by seeking (no million strings in Lua)
--   BENCH_WIDTH  bytes per line, newline included
--   BENCH_COUNT  keys in the file
--   BENCH_START  index of the first key this run uses (runs continue where the last stopped)
--   BENCH_USERS  end users to rotate over (user-0 .. user-N-1)
--   BENCH_BODY   JSON body holding the mark @@USER@@ where the end user's name goes
--   BENCH_DELAY  per-request delay in ms (the soak's pacing)
-- Use one thread (-t1): the counter is per thread.
local width = tonumber(os.getenv("BENCH_WIDTH"))
local count = tonumber(os.getenv("BENCH_COUNT"))
local users = tonumber(os.getenv("BENCH_USERS"))
local turn = tonumber(os.getenv("BENCH_START") or "0")
local keys = assert(io.open(os.getenv("BENCH_KEYS"), "rb"))
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local at, stop = body:find("@@USER@@", 1, true)
local head, tail = body:sub(1, at - 1), body:sub(stop + 1)
local pause = tonumber(os.getenv("BENCH_DELAY") or "0")

function request()
  local i = turn % count
  keys:seek("set", i * width)
  local key = keys:read(width - 1)
  local headers = {
    ["Content-Type"] = "application/json",
    ["OpenAI-Organization"] = "plain",
    ["Authorization"] = "Bearer " .. key,
  }
  local sent = head .. "user-" .. (turn % users) .. tail
  turn = turn + 1
  return wrk.format("POST", "/v1/chat/completions", headers, sent)
end

if pause > 0 then
  function delay() return pause end
end

-- The same BENCH line as post.lua's, which tests/bench/load.py parse_summary reads.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d "
      .. "p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
