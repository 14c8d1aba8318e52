-- Apply a committed ledger credit to the hot balance exactly once (a retry, or the same
-- credit replayed after a crash, finds its entry id already in the applied set).
-- KEYS: 1 account hash, 2 applied-credit set, then for money taken out under a hold
--       (take.lua; absent otherwise): 3 the shard's reservations hash, 4 deadlines zset.
-- ARGV: 1 ledger entry id, 2 amount micros,
--       then for a grant with an end ('' otherwise): 3 grant id, 4 end ms, entered in
--       `gx` (see grant_end.lua) in the same step, so the money is never spendable past
--       its end; 5 the hold this entry was held under ('' or absent: none).
-- The hold is dropped in the same step as the entry is applied (or, if a repair applied it
-- already, dropped alone): its money is never counted both held and gone, nor neither.
-- Reply: the balance after the call.
-- `seq` counts every change of the balance, so a repair read before this one changes nothing.
local hold = ARGV[5] or ''
if hold ~= '' then
  local rec = redis.call('HGET', KEYS[3], hold)
  redis.call('ZREM', KEYS[4], hold)
  if rec then
    local amount = tonumber(string.match(rec, '^[^|]*|[^|]*|([^|]*)|'))
    redis.call('HDEL', KEYS[3], hold)
    redis.call('HINCRBY', KEYS[1], 'held', string.format('%d', -amount))
  end
end
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
