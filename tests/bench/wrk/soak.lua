-- wrk script for the scale soak (tests/bench/soak_scale.py): every request a key not used
-- since the file was last gone through, and one of its account's end users. Environment:
--   BENCH_KEYS   fixed-width keys file (tests/bench/bulk_keys.py): one secret a line, all of
--                one length, so the i-th is read by seeking (no million strings in Lua)
--   BENCH_WIDTH  bytes per line, newline included
--   BENCH_COUNT  keys in the file
--   BENCH_START  index of the first key this run uses (runs continue where the last stopped)
--   BENCH_USERS  end users in all (user-0 .. user-N-1), spread evenly over the accounts:
--                end users are counted per account, so each belongs to one account, and a
--                request names one of its key's account's end users
--   BENCH_PER_ACCOUNT  keys per account (the file holds each account's keys together;
--                BENCH_COUNT is a multiple of it)
--   BENCH_BODY   JSON body holding the mark @@USER@@ where the end user's name goes
--   BENCH_DELAY  per-request delay in ms (the soak's pacing)
-- Use one thread (-t1): the counter is per thread.
local width = tonumber(os.getenv("BENCH_WIDTH"))
local count = tonumber(os.getenv("BENCH_COUNT"))
local users = tonumber(os.getenv("BENCH_USERS"))
local per_account = tonumber(os.getenv("BENCH_PER_ACCOUNT"))
local accounts = math.max(1, math.floor(count / per_account))
local users_each = math.max(1, math.floor(users / accounts))
local turn = tonumber(os.getenv("BENCH_START") or "0")
local keys = assert(io.open(os.getenv("BENCH_KEYS"), "rb"))
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local at, stop = body:find("@@USER@@", 1, true)
local head, tail = body:sub(1, at - 1), body:sub(stop + 1)
local pause = tonumber(os.getenv("BENCH_DELAY") or "0")

-- Request k takes account k mod accounts, so consecutive requests go to different accounts
-- and the first `users` requests meet every end user once (their per-end-user state is
-- full within a minute or two), while keys stay new until the file has been gone through.
function request()
  local k = turn % count
  local account = k % accounts
  local round = math.floor(k / accounts)
  local i = account * per_account + round % per_account
  keys:seek("set", i * width)
  local key = keys:read(width - 1)
  local headers = {
    ["Content-Type"] = "application/json",
    ["OpenAI-Organization"] = "plain",
    ["Authorization"] = "Bearer " .. key,
  }
  local user = account * users_each + round % users_each
  local sent = head .. "user-" .. user .. tail
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
