-- Set an account's credit line (`cl`: it may go down to minus it) in one atomic step with
-- the decision, against what open reservations hold: a line that raises the floor (a lower
-- line; any line on a postpaid account that had none, which had no floor) is refused when
-- the balance less what is held and what ended grants still hold (`gx`) is already below
-- the new floor, so no account is ever left below its floor by an operator.
-- KEYS: 1 account hash, 2 test clock offset.  ARGV: 1 line micros (0: none), 2 use test
--       clock (1/0)
-- Reply: {1, the line before ('' for none)}, {0, the lowest line it could have now} (refused,
--        nothing changed), {-1} when the account is not in Redis.
local function int(x) return string.format('%d', x) end
local a = redis.call('HMGET', KEYS[1], 'bal', 'held', 'gx', 'cl', 'mode')
if not a[1] then return { -1 } end
local line = tonumber(ARGV[1])
local postpaid = (a[5] or 'prepaid') == 'postpaid'
local unbounded = postpaid and not a[4]
local raises_floor = line > 0 and unbounded
  or (not unbounded and line < tonumber(a[4] or '0') and not (postpaid and line == 0))
if raises_floor then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if ARGV[2] == '1' then now = now + tonumber(redis.call('GET', KEYS[2]) or '0') end
  local ended = 0
  for rest, at in string.gmatch(a[3] or '', '%d+:(%d+)@(%d+)') do
    if at + 0 <= now then ended = ended + rest end
  end
  local free = tonumber(a[1]) - tonumber(a[2] or '0') - ended
  if free + line < 0 then return { 0, int(-free) } end
end
if line > 0 then redis.call('HSET', KEYS[1], 'cl', int(line))
else redis.call('HDEL', KEYS[1], 'cl') end
return { 1, a[4] or '' }
