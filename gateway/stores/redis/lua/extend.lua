-- Keep a reservation alive while its request is still being served (a slow reader, a long
-- stream): move its deadline to now + ttl, so the sweeper never voids a live request.
-- KEYS: 1 reservations hash, 2 reservation deadlines zset, 3 test clock offset
-- ARGV: 1 request id, 2 reservation ttl ms, 3 use test clock (1/0)
-- Reply: 1 when extended, 0 when the reservation is already closed.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then now = now + tonumber(redis.call('GET', KEYS[3]) or '0') end
redis.call('ZADD', KEYS[2], 'XX', string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
return 1
