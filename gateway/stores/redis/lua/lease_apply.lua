-- Bring a lease (reserve.lua's mode 'lease') up to date from the settlements its process
-- appended to the lease's stream, in one step per batch; with 'close', then give back what
-- is left of it and remove it (its process let it go, or the sweeper found it expired: a
-- process that died holding it). Idempotent: an appended settlement is applied once, by its
-- request id (the lease's seen set, kept a while after the close for late retries).
--
-- KEYS: 1 reservations hash, 2 reservation deadlines zset, 3 account hash, 4 settlement
--       stream, 5 the lease's stream, 6 the lease's seen set, 7 test clock offset, 8.. the
--       quota counters the lease holds (read from its record; a superset will do)
-- ARGV: 1 lease id, 2 'apply' | 'trim' | 'close', 3 most entries to apply ('' = all), 4 seen
--       set ttl ms after a close, 5 use test clock (1/0), then for 'trim': 6-9 the requests,
--       input tokens, output tokens and spend micros its process will admit no more (a lease
--       that stopped admitting while calls of it are still served gives that back at once)
-- An entry (stores/redis/leases/wire.py): one field `m`, `rid|kind|input|output|cost|row`:
-- kind `d` a debit (row: the settlement message as settle.lua's packed form writes it),
-- `f` a request the provider refused (it stays counted in request windows; no row).
-- A debit takes its cost from what the lease still holds, as a settle takes its hold; a
-- cost above that takes only what is free, as settle.lua's (collect.lua): the rest is
-- queued `uncollected`. At the close, each counter gives back what the lease holds unused of
-- its metric, and counts what its calls used beyond it, never past its limit. Each trim
-- and close counts one on the account hash's `lb` (a reclaim waits for it to move).
-- Reply: {entries applied, micros uncollected, 1 when the balance fell under the auto top-up
--         threshold (else 0), 1 when the lease is closed now (else 0), when a call of the
--         account was last refused asking for the leases back (the account hash's `lr`,
--         ms; 0: never), then the request id of every entry taken off the stream (applied
--         now, or found applied before)};
--         {0, 0, 0, 2} when there is no such lease (closed, or lost with Redis's data): its
--         stream, if any, is dropped, since nothing can apply it any more, and its process
--         settles what it appended as calls whose reservation was lost;
--         {-1, 0, 0, 0}, having changed nothing, for a close whose KEYS lack a counter the
--         lease holds.
local function int(x) return string.format('%d', x) end
local find, sub = string.find, string.sub
local EXACT = 9007199254740992
local function exact(x)
  if not x or x == '' then return 0 end
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('lease_apply: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end
local function split(text, most)
  local parts, from = {}, 1
  while #parts < most - 1 do
    local bar = find(text, '|', from, true)
    if not bar then break end
    parts[#parts + 1] = sub(text, from, bar - 1)
    from = bar + 1
  end
  parts[#parts + 1] = sub(text, from)
  return parts
end
local clock_flag, clock_key = ARGV[5], KEYS[7]  -- collect.lua's now_ms

local id, closing, trimming = ARGV[1], ARGV[2] == 'close', ARGV[2] == 'trim'
local rec = redis.call('HGET', KEYS[1], id)
if not rec then
  redis.call('DEL', KEYS[5])
  return { 0, 0, 0, 2 }
end
local f = split(rec, 1000000)
local held, r, i, o = exact(f[3]), exact(f[4]), exact(f[5]), exact(f[6])
local floorless = false
local declared = {}
for n = 8, #KEYS do declared[KEYS[n]] = true end
local metric, limit = {}, {}
for n = 13, #f - 2, 3 do
  if (closing or trimming) and not declared[f[n]] then return { -1, 0, 0, 0 } end
  local spec = f[n + 2]
  local lt = find(spec, '<', 1, true)
  metric[n] = lt and sub(spec, 1, lt - 1) or spec
  if lt and lt < #spec then limit[n] = sub(spec, lt + 1) end
end
local function limit_of(n) return limit[n] and tonumber(limit[n]) end
--#include collect

-- Spend a counter counts beyond what the lease held (collect bounded it by the window).
local function count_spend(d)
  for n = 13, #f - 2, 3 do
    if metric[n] == 's' and redis.call('EXISTS', f[n]) == 1 then
      if f[n + 1] ~= '' then redis.call('HINCRBY', f[n], f[n + 1], int(d))
      else redis.call('INCRBY', f[n], int(d)) end
    end
  end
end

local entries
if closing or ARGV[3] == '' then
  entries = redis.call('XRANGE', KEYS[5], '-', '+')
else
  entries = redis.call('XRANGE', KEYS[5], '-', '+', 'COUNT', ARGV[3])
end
local applied, debited, unc_total = 0, 0, 0
local ids, taken = {}, {}
-- Debits within what the lease holds are added up and moved at once; one above it first
-- moves what came before, so collect reads the balance and holds as they are.
local function flush()
  if debited > 0 then
    redis.call('HINCRBY', KEYS[3], 'held', int(-debited))
    redis.call('HINCRBY', KEYS[3], 'bal', int(-debited))
    redis.call('HINCRBY', KEYS[3], 'seq', '1')  -- the balance moved: fences a repair
    debited = 0
  end
end
local moved = false
for n, entry in ipairs(entries) do
  ids[n] = entry[1]
  local e = split(entry[2][2], 6)
  taken[n] = e[1]
  if redis.call('SADD', KEYS[6], e[1]) == 1 then
    applied = applied + 1
    r = r - 1
    if e[2] == 'd' then
      i, o = i - exact(e[3]), o - exact(e[4])
      local cost = exact(e[5])
      if cost <= held then
        held, debited = held - cost, debited + cost
        redis.call('XADD', KEYS[4], '*', 'row', e[6])
      else
        flush()
        local take, unc, why = collect(cost)
        redis.call('HINCRBY', KEYS[3], 'held', int(-held))
        if take > 0 then
          redis.call('HINCRBY', KEYS[3], 'bal', int(-take))
          redis.call('HINCRBY', KEYS[3], 'seq', '1')
        end
        if take > held then count_spend(take - held) end
        held = 0
        local row = cjson.decode(e[6])
        row[5] = int(take)
        redis.call('XADD', KEYS[4], '*', 'row', cjson.encode(row))
        if unc > 0 then
          local u = { unpack(row, 1, 15) }
          u[2], u[5], u[16] = 'uncollected', int(unc), why
          unc_total = unc_total + unc
          redis.call('XADD', KEYS[4], '*', 'row', cjson.encode(u))
        end
      end
      moved = true
    end
  end
end
if #ids > 0 then redis.call('XDEL', KEYS[5], unpack(ids)) end
flush()

local low = 0
if moved then
  local a = redis.call('HMGET', KEYS[3], 'bal', 'att')
  if a[2] and tonumber(a[1]) < tonumber(a[2]) then low = 1 end
end

-- Each counter gives back what the lease holds unused of its metric (`back`: at a close,
-- everything it holds, so it also counts what its calls used beyond it, clipped to its
-- limit as settle.lua's corrections are).
local function give_back(back)
  for n = 13, #f - 2, 3 do
    local key, field = f[n], f[n + 1]
    local d = -(back[metric[n]] or 0)
    if d > 0 then d = rise(n, d) end
    if d ~= 0 and redis.call('EXISTS', key) == 1 then
      if field ~= '' then
        if redis.call('HINCRBY', key, field, int(d)) < 0 then redis.call('HDEL', key, field) end
      else
        redis.call('INCRBY', key, int(d))
      end
    end
  end
  if back.s > 0 then redis.call('HINCRBY', KEYS[3], 'held', int(-back.s)) end
  redis.call('HINCRBY', KEYS[3], 'lb', 1)  -- what a refused call's reclaim waits for
end

if trimming then  -- never more than the lease still holds of each amount
  local br = math.max(0, math.min(exact(ARGV[6]), r))
  local bi = math.max(0, math.min(exact(ARGV[7]), i))
  local bo = math.max(0, math.min(exact(ARGV[8]), o))
  local bs = math.max(0, math.min(exact(ARGV[9]), held))
  give_back({ r = br, i = bi, o = bo, t = bi + bo, s = bs })
  r, i, o, held = r - br, i - bi, o - bo, held - bs
end
if not closing then
  f[3], f[4], f[5], f[6] = int(held), int(r), int(i), int(o)
  redis.call('HSET', KEYS[1], id, table.concat(f, '|'))
  local asked = redis.call('HGET', KEYS[3], 'lr') or '0'
  return { applied, unc_total, low, 0, asked, unpack(taken) }
end

give_back({ r = r, i = i, o = o, t = i + o, s = math.max(held, 0) })
redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('DEL', KEYS[5])
redis.call('PEXPIRE', KEYS[6], ARGV[4])
return { applied, unc_total, low, 1, '0', unpack(taken) }
