-- Keep one answer in the response cache (stores/redis/cache/entries.py), within its owner's
-- byte budget: expired entries go first, then a replaced entry's own bytes, then the entries
-- that expire soonest, until the new one fits. Every key it touches arrives in KEYS.
-- KEYS: 1 the owner's entries hash, 2 its index hash, 3 its expiry zset
-- ARGV: 1 cache key, 2 the answer, 3 ttl ms, 4 now ms (Redis's clock, as the call saw it),
--       5 the owner's budget in bytes, 6 the largest answer kept, 7 key id, 8 model
-- Reply: {kept 1|0, entries evicted}
local size = #ARGV[2]
if size > tonumber(ARGV[6]) or size > tonumber(ARGV[5]) then return {0, 0} end
local now, ttl, budget = tonumber(ARGV[4]), tonumber(ARGV[3]), tonumber(ARGV[5])
local used = tonumber(redis.call('HGET', KEYS[2], '=bytes') or '0')
local function drop(field)
  local meta = redis.call('HGET', KEYS[2], field)
  if meta then
    used = used - tonumber(string.match(meta, '^(%d+)|'))
    redis.call('HDEL', KEYS[2], field)
  end
  redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[3], field)
end
for _, field in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do drop(field) end
drop(ARGV[1])
local evicted = 0
while used + size > budget do
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #first == 0 then break end
  drop(first[1])
  evicted = evicted + 1
end
local expires = now + ttl
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', expires) .. '|' .. ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1],
  string.format('%d|%d|', size, expires) .. ARGV[7] .. '|' .. ARGV[8],
  '=bytes', string.format('%d', used + size))
redis.call('ZADD', KEYS[3], expires, ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')[2]
-- relative to the call's clock (a test clock runs ahead of Redis's own)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], tonumber(last) - now) end
return {1, evicted}
