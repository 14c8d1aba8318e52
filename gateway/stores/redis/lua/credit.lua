-- Apply a committed ledger credit to the hot balance exactly once (a retry, or the same
-- credit replayed after a crash, finds its entry id already in the applied set).
-- KEYS: 1 account hash, 2 applied-credit set.  ARGV: 1 ledger entry id, 2 amount micros,
--       then for a grant with an end (absent otherwise): 3 grant id, 4 end ms, entered in
--       `gx` (see grant_end.lua) in the same step, so the money is never spendable past
--       its end.
-- Reply: the balance after the call.
-- `seq` counts every change of the balance, so a repair read before this one changes nothing.
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'seq', 1)
  if (ARGV[3] or '') ~= '' then
    local gx = redis.call('HGET', KEYS[1], 'gx')
    local entry = ARGV[3] .. ':' .. ARGV[2] .. '@' .. ARGV[4]
    redis.call('HSET', KEYS[1], 'gx', gx and (gx .. ',' .. entry) or entry)
  end
  return redis.call('HINCRBY', KEYS[1], 'bal', ARGV[2])
end
return tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
