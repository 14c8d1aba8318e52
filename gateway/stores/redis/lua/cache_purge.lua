-- Drop an owner's cached answers (`meterway cache purge`): all of them, or those one key
-- stored, or those of one model. Every key it touches arrives in KEYS.
-- KEYS: 1 the owner's entries hash, 2 its index hash, 3 its expiry zset
-- ARGV: 1 key id ('' any), 2 model ('' any)
-- Reply: {entries dropped, bytes freed}
local index = redis.call('HGETALL', KEYS[2])
local dropped, freed, used = 0, 0, 0
for i = 1, #index, 2 do
  local field, meta = index[i], index[i + 1]
  if field ~= '=bytes' then
    local size, key_id, model = string.match(meta, '^(%d+)|%d+|([^|]*)|(.*)$')
    size = tonumber(size)
    if (ARGV[1] == '' or ARGV[1] == key_id) and (ARGV[2] == '' or ARGV[2] == model) then
      redis.call('HDEL', KEYS[1], field)
      redis.call('HDEL', KEYS[2], field)
      redis.call('ZREM', KEYS[3], field)
      dropped, freed = dropped + 1, freed + size
    else
      used = used + size
    end
  end
end
if used == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
else
  redis.call('HSET', KEYS[2], '=bytes', string.format('%d', used))
end
return {dropped, freed}
