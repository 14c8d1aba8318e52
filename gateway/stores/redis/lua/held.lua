-- Set an account's `held` to what its open reservations hold, in one atomic step, so a
-- `meterway rebuild --force` on a live Redis keeps every in-flight request's hold (zeroing
-- it let a request that settled afterwards leave available above the balance) and no
-- reserve or settle can slip between the count and the write.
-- KEYS: 1 account hash, 2 the shard's reservations hash.  ARGV: 1 account id.
-- Reply: the held amount written. Record layout: stores/redis/records.py (acct|key|held|...).
-- A commitment's hold `cmh` is set alike from the records held against it (field 11 `C`).
local held, committed = 0, 0
local all = redis.call('HGETALL', KEYS[2])
for n = 2, #all, 2 do
  local acct, _, amount = string.match(all[n], '^([^|]*)|([^|]*)|([^|]*)|')
  if acct == ARGV[1] then
    held = held + tonumber(amount)
    if string.match(all[n], '^' .. string.rep('[^|]*|', 10) .. 'C|') then
      committed = committed + tonumber(amount)
    end
  end
end
redis.call('HSET', KEYS[1], 'held', string.format('%d', held))
if committed > 0 or redis.call('HEXISTS', KEYS[1], 'cmh') == 1 then
  redis.call('HSET', KEYS[1], 'cmh', string.format('%d', committed))
end
return held
