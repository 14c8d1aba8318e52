-- Close a reservation: replace every reserved amount with the actual one, move the balance,
-- and (for debits and voids) append the settlement to the shard's stream in the same atomic
-- step, so Redis state and the queue of unwritten ledger rows can never disagree.
-- Idempotent: a reservation already closed is left alone (reply 0).
-- A metered authorization (its record names a meter) settles a quantity instead of tokens,
-- may expire by its meter's policy (kind 'expire': charged at the hold, or voided), and
-- leaves a closed marker so its id is never reserved or debited twice.
-- A proxied call's void leaves a tombstone holding the reservation record: a debit that
-- arrives after its reservation was voided (the gateway was alive but could not reach Redis
-- in time) still debits the actual usage, once; the ledger shows the void, then the debit.
--
-- KEYS: 1 reservations hash, 2 reservation deadlines zset, 3 account hash, 4 stream,
--       5 test clock offset, 6 void tombstone of this request id,
--       7.. the quota counters the reservation holds (a superset will do),
--       and last, for a meter, the closed marker of this request id
-- ARGV: 1 request id, 2 kind (debit|release|refused|void|expire), 3 input tokens (all input
--       fields), 4 output tokens, 5 cost micros, 6 use test clock (1/0), 7 model,
--       8 provider, 9 uncached input, 10 cached input, 11 cache write, 12 reasoning,
--       13 usage source, 14 quantity (meters; else 0), 15 closed marker ttl ms (meters;
--       else ''), 16 tombstone ttl ms, 17 message form: packed (one JSON row) | named (a
--       stream field per value, as versions before the packed row wrote; a rolling upgrade),
--       then for a proxied call's debit (else ''): 18 price version, 19 provider cost micros
--       (before the account's markup), 20 priced detail (a JSON object, '' = none),
--       21 for a meter's settle, the quantity asked for (kept in the closed marker, so a
--       later settle asking for another quantity is told apart from a retry; else absent
--       or ''), 22 for a proxied call's debit, its end user (absent or '' = none)
-- A release gives back everything; `refused` (the provider refused a forwarded request) gives
-- back tokens and spend but keeps the request counted in its request windows.
-- Every amount is checked to be an integer below 2^53, where Lua's doubles are exact;
-- anything larger is an error, never rounded into a balance.
-- A debit takes its hold, and anything above its hold only from what other holds leave
-- above the account's floor (0; minus its credit line `cl`; none for a postpaid account
-- without one) that is also not an ended grant's (`gx`, see reserve.lua) and is free in
-- every spend window it counts in (the record carries each counter's limit). What it cannot
-- take is queued as its own message, kind `uncollected` (stream_fields.UNCOLLECTED_FIELDS),
-- the operator's receivable: never a balance below its floor, never a window past its limit.
-- A correction never lifts a window counter past its limit either.
-- Reply: 1 when closed now, 2 when a voided reservation was debited late, 0 when it was
--        already closed, -1 (nothing changed) when a counter the reservation holds was not
--        in KEYS. A proxied call's debit that leaves the balance under the account's auto
--        top-up threshold (field att) adds 4 (5, 6): the gateway checks for a top-up only
--        then, instead of reading the threshold after every settlement.
local function int(x) return string.format('%d', x) end
local EXACT = 9007199254740992
local function exact(x)
  if not x or x == '' then return 0 end  -- an absent amount (a meter has no tokens)
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('settle: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end

local clock_flag, clock_key = ARGV[6], KEYS[5]  -- collect.lua's now_ms

local late = false
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then
  if ARGV[2] ~= 'debit' then return 0 end
  rec = redis.call('GET', KEYS[6])
  if not rec then return 0 end
  late = true
end

-- The record's fields: a plain find per separator (a pattern matches it a character at a
-- time, which cost a sixth of the script).
local find, sub = string.find, string.sub
local f, from = {}, 1
while true do
  local bar = find(rec, '|', from, true)
  if not bar then
    f[#f + 1] = sub(rec, from)
    break
  end
  f[#f + 1] = sub(rec, from, bar - 1)
  from = bar + 1
end
local declared = {}
for n = 7, #KEYS do declared[KEYS[n]] = true end
-- A counter's metric, then its limit when the record names it (`s<5000`), read as a number
-- only where a check needs it (`limit_of`).
local metric, limit = {}, {}
for n = 13, #f - 2, 3 do
  if not declared[f[n]] then return -1 end
  local spec = f[n + 2]
  local lt = find(spec, '<', 1, true)
  if lt then
    metric[n] = sub(spec, 1, lt - 1)
    if lt < #spec then limit[n] = sub(spec, lt + 1) end
  else
    metric[n] = spec
  end
end
local function limit_of(n) return limit[n] and tonumber(limit[n]) end
local acct, key_id = f[1], f[2]
local held, r, ri, ro, reserved_at = exact(f[3]), exact(f[4]), exact(f[5]), exact(f[6]), f[7]
local meter, mq, svc, occurred = f[8], tonumber(f[9]), f[10], f[12]
-- c|v, then `n` for a meter whose reported events may take the balance below its floor
local on_expiry, floorless = string.sub(f[11], 1, 1), string.sub(f[11], 2) == 'n'
local metadata = (#f - 12) % 3 == 1 and f[#f] or ''  -- a meter's, after its counters
if late then
  -- The void already gave back the hold and every reserved quota amount.
  redis.call('DEL', KEYS[6])
  held, r, ri, ro = 0, 0, 0, 0
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[2] == 'void' and meter == '' then
    redis.call('SET', KEYS[6], rec, 'PX', ARGV[16])
  end
end

local kind = ARGV[2]
local ai, ao, cost, ar, aq = 0, 0, 0, 0, 0
if kind == 'expire' then
  if on_expiry == 'c' then kind, cost, aq = 'debit', held, mq else kind = 'void' end
elseif kind == 'debit' then
  ai, ao, cost, ar = exact(ARGV[3]), exact(ARGV[4]), exact(ARGV[5]), r
  if meter ~= '' then aq = exact(ARGV[14]) end
elseif kind == 'refused' then
  ar = r
end
--#include collect

-- A debit within its hold takes it whole without a read: the hold was admitted against
-- what was spendable, and what moves money since (a write-off, an adjustment) leaves holds
-- their money. Only what passes the hold is collected.
local unc, why = 0, ''
if kind == 'debit' and cost > held then cost, unc, why = collect(cost) end
local delta = { r = ar - r, i = ai - ri, o = ao - ro, t = (ai + ao) - (ri + ro), s = cost - held }
if meter ~= '' then delta[meter] = aq - mq end

-- Corrections go only to counters that still exist: one that expired, or that a rebuild
-- dropped, is never recreated without its expiry. One EXISTS over every counter to correct
-- answers for all of them in the usual case, where none is gone.
local moved, at = {}, {}
for n = 13, #f - 2, 3 do
  if (delta[metric[n]] or 0) ~= 0 then
    moved[#moved + 1] = f[n]
    at[#at + 1] = n
  end
end
local all = #moved > 0 and redis.call('EXISTS', unpack(moved)) == #moved
for j, n in ipairs(at) do
  if all or redis.call('EXISTS', moved[j]) == 1 then
    local field, d = f[n + 1], int(rise(n, delta[metric[n]]))
    if field ~= '' then
      -- A granule never holds less than nothing: one below zero had been dropped by the
      -- clean-up before this correction came (its amounts left the window with it), and
      -- a sum over the hash (meter_extend.lua) must not count it.
      if redis.call('HINCRBY', moved[j], field, d) < 0 then redis.call('HDEL', moved[j], field) end
    else redis.call('INCRBY', moved[j], d) end
  end
end

redis.call('HINCRBY', KEYS[3], 'held', int(-held))
-- A call held against the account's commitment (reserve.lua's `C`) draws what it cost from
-- the period's allowance (never past it: a cost above the hold draws what is free of the
-- other holds; an ended commitment draws nothing) and gives back its hold there too.
if meter == '' and f[11] == 'C' then
  local c = redis.call('HMGET', KEYS[3], 'cma', 'cmu', 'cmh')
  if held ~= 0 then redis.call('HINCRBY', KEYS[3], 'cmh', int(-held)) end
  if cost ~= 0 and c[1] then
    local room = exact(c[1]) - exact(c[2] or '0') - (exact(c[3] or '0') - held)
    local draw = math.min(cost, math.max(room, 0))
    if draw > 0 then redis.call('HINCRBY', KEYS[3], 'cmu', int(draw)) end
  end
end
local bal = nil  -- the balance after this debit, when it moved
if cost ~= 0 then
  bal = redis.call('HINCRBY', KEYS[3], 'bal', int(-cost))
  redis.call('HINCRBY', KEYS[3], 'seq', '1')  -- the balance moved: fences a repair (repair.lua)
end

if meter ~= '' and ARGV[15] then
  local asked = (ARGV[21] or '') ~= '' and ('|' .. int(exact(ARGV[21]))) or ''
  redis.call('SET', KEYS[#KEYS], kind .. '|' .. int(aq) .. '|' .. int(cost) .. asked, 'PX', ARGV[15])
end
if kind ~= 'release' and kind ~= 'refused' then
  local now = now_ms()
  -- One field: a JSON array of the values in stream_fields.PRICED_FIELDS order (END_USER_FIELDS
  -- with an end user, METERED_FIELDS for a meter), every one a string so no amount passes
  -- through cjson's number format.
  local row
  if meter == '' then
    row = { ARGV[1], kind, acct, key_id, int(cost), ARGV[7], ARGV[8], ARGV[9], ARGV[10],
      ARGV[11], int(ao), ARGV[12], ARGV[13], reserved_at, int(now),
      ARGV[18] or '', ARGV[19] or '', ARGV[20] or '' }
    if (ARGV[22] or '') ~= '' then row[19] = ARGV[22] end
  else
    row = { ARGV[1], kind, acct, key_id, int(cost), '', '', '0', '0', '0', '0', '0', '',
      reserved_at, int(now), string.sub(meter, 3), int(aq), svc, occurred, metadata }
  end
  if ARGV[17] == 'named' then
    local names = { 'rid', 'kind', 'acct', 'key', 'cost', 'model', 'provider', 'in', 'cin',
      'cw', 'out', 'rsn', 'src', 'at', 'st', 'meter', 'qty', 'svc', 'occ', 'md' }
    if meter == '' then names[16], names[17], names[18], names[19] = 'pv', 'pc', 'dt', 'eu' end
    local flat = {}
    for i, v in ipairs(row) do
      flat[2 * i - 1], flat[2 * i] = names[i], v
    end
    redis.call('XADD', KEYS[4], '*', unpack(flat))
  else
    redis.call('XADD', KEYS[4], '*', 'row', cjson.encode(row))
  end
  if unc > 0 then
    -- stream_fields.UNCOLLECTED_FIELDS: the debit's first fifteen, its kind and amount
    -- replaced, then why. A settler that knows no such kind parks it (never loses it).
    local u = { unpack(row, 1, 15) }
    u[2], u[5], u[16] = 'uncollected', int(unc), why
    if ARGV[17] == 'named' then
      local names = { 'rid', 'kind', 'acct', 'key', 'cost', 'model', 'provider', 'in', 'cin',
        'cw', 'out', 'rsn', 'src', 'at', 'st', 'why' }
      local flat = {}
      for i, v in ipairs(u) do
        flat[2 * i - 1], flat[2 * i] = names[i], v
      end
      redis.call('XADD', KEYS[4], '*', unpack(flat))
    else
      redis.call('XADD', KEYS[4], '*', 'row', cjson.encode(u))
    end
  end
end
local low = 0
if kind == 'debit' and meter == '' then
  local att = redis.call('HGET', KEYS[3], 'att')
  if att then
    bal = bal or tonumber(redis.call('HGET', KEYS[3], 'bal') or '0')
    if bal < tonumber(att) then low = 4 end
  end
end
-- The part not collected rides above the reply's three flag bits (ports/hot.py UNCOLLECTED).
if late then return 2 + low + 8 * unc end
return 1 + low + 8 * unc
