-- Write off an expired or revoked credit grant's rest: take it from the hot balance and
-- queue its ledger row (kind `expire`) on the shard's settlement stream, in one atomic step,
-- like settle.lua, so the settler writes it once and reconcile counts it as queued meanwhile.
-- The rest comes from PostgreSQL (workers/grant_keeper.py), read after the account's
-- entries were allocated to its grants; the caller read the balance's change counter `seq`
-- before that, with no settlement of the account queued, so an unchanged `seq` here means
-- nothing moved the balance since and the rest is exact.
-- Never more than the balance reservations do not hold (billing.money.credit_grants.write_off): the
-- balance never goes negative through a write-off; the rest follows once they settle.
-- KEYS: 1 account hash, 2 stream, 3 test clock offset
-- ARGV: 1 request id, 2 account id, 3 grant id, 4 rest micros, 5 seq seen,
--       6 use test clock (1/0), 7 cause (expired|revoked), 8 the grant's end ms
-- Under the fence the rest is exact: the grant's entry in `gx` (grant_end.lua) becomes what
-- is left of it, the part reservations hold (none: the entry is dropped).
-- Always the packed form: a settler from before write-offs could read no form of one (it
-- parks the row; `meterway settler dead-letters --requeue` sends it back after the upgrade).
-- Reply: the micros written off (0: all held, nothing queued), -1 the balance moved (read
--        again), -2 the account is not in Redis.
local function int(x) return string.format('%d', x) end
local EXACT = 9007199254740992
local function exact(x)
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('write_off: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end

local a = redis.call('HMGET', KEYS[1], 'bal', 'held', 'seq')
if not a[1] then return -2 end
if exact(a[3] or '0') ~= exact(ARGV[5]) then return -1 end
local amount = math.max(0, math.min(exact(ARGV[4]), exact(a[1]) - exact(a[2] or '0')))
local out = {}
for e in string.gmatch(redis.call('HGET', KEYS[1], 'gx') or '', '[^,]+') do
  if string.match(e, '^(%d+):') ~= ARGV[3] then out[#out + 1] = e end
end
if exact(ARGV[4]) > amount then
  out[#out + 1] = ARGV[3] .. ':' .. int(exact(ARGV[4]) - amount) .. '@' .. ARGV[8]
end
if #out == 0 then redis.call('HDEL', KEYS[1], 'gx')
else redis.call('HSET', KEYS[1], 'gx', table.concat(out, ',')) end
if amount == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'bal', int(-amount))
redis.call('HINCRBY', KEYS[1], 'seq', '1')

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[6] == '1' then now = now + tonumber(redis.call('GET', KEYS[3]) or '0') end
-- stream_fields.WRITE_OFF_FIELDS, every value a string
local row = { ARGV[1], 'expire', ARGV[2], '', int(amount), '', '', '0', '0', '0', '0', '0',
  '', int(now), int(now), ARGV[3], ARGV[7] }
redis.call('XADD', KEYS[2], '*', 'row', cjson.encode(row))
return amount
