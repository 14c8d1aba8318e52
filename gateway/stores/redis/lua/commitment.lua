-- An account's commitment in its hash (reserve.lua reads it, settle.lua draws from it):
-- `cme` the open period's end (ms), `cma` what it may draw, `cmu` what it drew, `cmh` what
-- calls held against it hold, `cmt` its rates and policy (billing.contracts.commitments.hot_terms),
-- `cmc` the last closed period's `end:drawn`. The Python home: stores/redis/holds/commitments.py.
-- KEYS: 1 account hash.  ARGV: 1 operation, then
--   open  2 period end, 3 allowance, 4 cmt, 5 drawn (absent: 0; a rebuild's estimate): a
--         period opens, or, when it is the open one already, takes new terms and allowance
--         and keeps what it drew; 1
--   allow 2 period end, 3 allowance: the open period's allowance, when it is that one; 1|0
--   close 2 period end, 3 next period's end ('' = none), 4 its allowance, 5 its cmt: what
--         the period drew, read and zeroed in one step as the next opens; asked again,
--         the same answer (from `cmc`); -1 when the hash knows nothing of that period
--   end   nothing is committed from now (`cmh` stays for the calls still holding); 1
-- A call held against a period and settled after its close is drawn in the next one.
local op = ARGV[1]
local a = redis.call('HMGET', KEYS[1], 'cme', 'cmu', 'cmc')
if op == 'open' then
  if a[1] == ARGV[2] then
    redis.call('HSET', KEYS[1], 'cma', ARGV[3], 'cmt', ARGV[4])
  else
    redis.call('HSET', KEYS[1], 'cme', ARGV[2], 'cma', ARGV[3], 'cmu', ARGV[5] or '0',
      'cmt', ARGV[4])
  end
  return 1
elseif op == 'allow' then
  if a[1] ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[1], 'cma', ARGV[3])
  return 1
elseif op == 'close' then
  if a[1] == ARGV[2] then
    local drawn = a[2] or '0'
    if ARGV[3] == '' then
      redis.call('HDEL', KEYS[1], 'cme', 'cma', 'cmu', 'cmt')
    else
      redis.call('HSET', KEYS[1], 'cme', ARGV[3], 'cma', ARGV[4], 'cmu', '0', 'cmt', ARGV[5])
    end
    redis.call('HSET', KEYS[1], 'cmc', ARGV[2] .. ':' .. drawn)
    return tonumber(drawn)
  end
  local c = a[3] or ''
  if string.sub(c, 1, #ARGV[2] + 1) == ARGV[2] .. ':' then
    return tonumber(string.sub(c, #ARGV[2] + 2))
  end
  return -1
end
redis.call('HDEL', KEYS[1], 'cme', 'cma', 'cmu', 'cmt')
return 1
