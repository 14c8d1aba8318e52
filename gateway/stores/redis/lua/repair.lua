-- Correct one account's hot balance by a delta, only if nothing moved it since it was read.
-- `meterway reconcile --repair` reads the balance, the account's queued settlements and
-- applied credits (stores/redis/repair/balances.py), then the ledger; a settle or a credit in
-- between would make an absolute write erase a live debit. So the reader keeps a fence: the
-- balance, its change counter `seq` (settle.lua and credit.lua bump it with every change of
-- the balance) and how many credits were applied; this script changes nothing unless all
-- three still hold. A settler writing the ledger meanwhile needs no fence: the reader counts
-- a queued settlement once whether or not the ledger has it yet.
-- KEYS: 1 account hash, 2 the account's applied-credit set
-- ARGV: 1 balance seen, 2 seq seen, 3 applied credits seen, 4 delta micros,
--       5.. ledger credit entry ids this repair applies (committed in PostgreSQL, never
--       applied to Redis; their amounts are in the delta)
-- Reply: 1 repaired, 0 moved (nothing changed: read again).
local EXACT = 9007199254740992
local function exact(x)
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('repair: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end

local a = redis.call('HMGET', KEYS[1], 'bal', 'seq')
if not a[1] or exact(a[1]) ~= exact(ARGV[1]) then return 0 end
if exact(a[2] or '0') ~= exact(ARGV[2]) then return 0 end
if redis.call('SCARD', KEYS[2]) ~= exact(ARGV[3]) then return 0 end
for n = 5, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[n]) == 1 then return 0 end
end
for n = 5, #ARGV do redis.call('SADD', KEYS[2], ARGV[n]) end
local delta = exact(ARGV[4])
if delta ~= 0 then
  redis.call('HINCRBY', KEYS[1], 'bal', string.format('%d', delta))
  redis.call('HINCRBY', KEYS[1], 'seq', 1)
end
return 1
