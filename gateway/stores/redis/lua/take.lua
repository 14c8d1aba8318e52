-- Hold money an operator takes out (a negative adjustment, a refund) in one atomic step with
-- the decision: only what the account has free may be held, the balance less what open
-- reservations hold and what ended grants still hold (`gx`), down to 0 (money taken out
-- never makes an account owe, whatever its credit line). The hold is a reservation record
-- like reserve.lua's (its Python home: stores/redis/records.py), so `held`, held.lua and
-- the sweeper see it; credit.lua turns it into the entry it held for, give_back.lua drops it.
-- Held again under the same id (a retry of the same operation), the earlier hold is
-- replaced, not added to.
-- KEYS: 1 account hash, 2 the shard's reservations hash, 3 reservation deadlines zset,
--       4 test clock offset
-- ARGV: 1 hold id, 2 account id, 3 amount micros (> 0), 4 hold ttl ms, 5 use test clock
--       (1/0), 6 what the hold is for (base64 of its JSON: kind, key, payment)
-- Reply: {1, free after the hold} or {0, free} (refused, nothing changed); {-1} when the
--        account is not in Redis.
local function int(x) return string.format('%d', x) end
local EXACT = 9007199254740992
local function exact(x)
  if not x or x == '' then return 0 end
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('take: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end

local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[5] == '1' then now = now + tonumber(redis.call('GET', KEYS[4]) or '0') end

local a = redis.call('HMGET', KEYS[1], 'bal', 'held', 'gx')
if not a[1] then return { -1 } end
local held = exact(a[2])
local prior = redis.call('HGET', KEYS[2], ARGV[1])
if prior then held = held - exact(string.match(prior, '^[^|]*|[^|]*|([^|]*)|')) end
local ended = 0
for rest, at in string.gmatch(a[3] or '', '%d+:(%d+)@(%d+)') do
  if at + 0 <= now then ended = ended + rest end
end
local amount = exact(ARGV[3])
local free = exact(a[1]) - held - ended
if amount <= 0 or free < amount then return { 0, int(math.max(0, free)) } end
-- acct|key|held|r|i|o|at|meter|mq|service|on expiry|occurred at, then the trailing metadata
local rec = { ARGV[2], '', int(amount), '0', '0', '0', int(now), '', '0', '', '', '', ARGV[6] }
redis.call('HSET', KEYS[1], 'held', int(held + amount))
redis.call('HSET', KEYS[2], ARGV[1], table.concat(rec, '|'))
redis.call('ZADD', KEYS[3], int(now + exact(ARGV[4])), ARGV[1])
return { 1, int(free - amount) }
