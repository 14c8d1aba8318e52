-- Drop a money-out hold (take.lua) whose money did not leave: what it held is free again.
-- Only its resolver calls this, under the PostgreSQL lock its entry is written under, once
-- it knows the entry was not (services/money/out.py). Idempotent: no hold, nothing changes.
-- KEYS: 1 account hash, 2 the shard's reservations hash, 3 reservation deadlines zset
-- ARGV: 1 hold id
-- Reply: the micros given back (0: there was no such hold).
local rec = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not rec then return 0 end
local amount = tonumber(string.match(rec, '^[^|]*|[^|]*|([^|]*)|'))
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'held', string.format('%d', -amount))
return amount
