-- Extend a metered authorization still at work (a running container): move its deadline to
-- now + ttl and, when the service asks for a larger max quantity, hold the extra against the
-- balance and count it in the windows the authorization was admitted against, refusing if
-- either would be exceeded. A sliding window is judged on every granule its hash still keeps
-- (a superset of the window), so an extension can be refused early but never admitted over.
--
-- KEYS: 1 reservations hash, 2 reservation deadlines zset, 3 account hash, 4 key hash,
--       5 test clock offset, 6.. the quota counters the reservation holds
-- ARGV: 1 request id, 2 ttl ms, 3 use test clock (1/0), 4 new max quantity (0 = unchanged),
--       5 hold micros for the new max quantity, 6 counter key prefix, 7 service name
-- Reply: {1, now, held, max quantity} or {0, 'closed'} or {0, 'balance', ...} or
--        {0, 'quota', ...} shaped as reserve.lua's refusals.
local function int(x) return string.format('%d', x) end

local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return { 0, 'closed' } end
local f = {}
for part in string.gmatch(rec .. '|', '([^|]*)|') do f[#f + 1] = part end
if f[8] == '' or f[10] ~= ARGV[7] then return { 0, 'closed' } end
local declared = {}
for n = 6, #KEYS do declared[KEYS[n]] = true end
for n = 13, #f - 2, 3 do
  if not declared[f[n]] then return { 0, 'closed' } end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then now = now + tonumber(redis.call('GET', KEYS[5]) or '0') end

local meter, held, mq = f[8], tonumber(f[3]), tonumber(f[9])
local new_mq, new_held = tonumber(ARGV[4]), tonumber(ARGV[5])
if new_mq > mq then
  local a = redis.call('HMGET', KEYS[3], 'bal', 'held', 'mode', 'plan', 'q', 'cl', 'gx')
  local plan = a[4] or ''
  local extra = { s = new_held - held, [meter] = new_mq - mq }
  if (a[3] or 'prepaid') == 'prepaid' or a[6] then
    -- as reserve.lua's spendable(): less ended grants' rests, above the credit line
    local ended = 0
    for rest, at in string.gmatch(a[7] or '', '%d+:(%d+)@(%d+)') do
      if at + 0 <= now then ended = ended + rest end
    end
    local avail = tonumber(a[1] or '0') - tonumber(a[2] or '0') - ended + tonumber(a[6] or '0')
    if avail < extra.s then return { 0, 'balance', 'insufficient_balance', avail, plan } end
  end
  local specs = { a = a[5] or '', k = redis.call('HGET', KEYS[4], 'q') or '' }
  local prefix = ARGV[6]
  for n = 13, #f - 2, 3 do
    local key, field, m = f[n], f[n + 1], string.match(f[n + 2], '^[^<]*')
    local amount = extra[m] or 0
    if amount > 0 then
      local scope, w = string.match(string.sub(key, #prefix + 1), '^(%a):[^:]+:(%a+):')
      local lim = string.match(specs[scope] or '', w .. ':' .. m:gsub('%.', '%%.') .. ':(%d+)')
      local used = 0
      if field ~= '' then
        for _, v in ipairs(redis.call('HVALS', key)) do used = used + tonumber(v) end
      else
        used = tonumber(redis.call('GET', key) or '0')
      end
      if lim and used + amount > tonumber(lim) then
        return { 0, 'quota', scope, w, m, tonumber(lim), used, amount, -1, plan, now }
      end
    end
  end
  for n = 13, #f - 2, 3 do
    local key, field, m = f[n], f[n + 1], string.match(f[n + 2], '^[^<]*')
    local amount = extra[m] or 0
    if amount > 0 and redis.call('EXISTS', key) == 1 then
      if field ~= '' then redis.call('HINCRBY', key, field, int(amount))
      else redis.call('INCRBY', key, int(amount)) end
    end
  end
  redis.call('HINCRBY', KEYS[3], 'held', int(extra.s))
  f[3], f[9] = int(new_held), int(new_mq)
  held, mq = new_held, new_mq
  redis.call('HSET', KEYS[1], ARGV[1], table.concat(f, '|'))
end
redis.call('ZADD', KEYS[2], 'XX', int(now + tonumber(ARGV[2])), ARGV[1])
return { 1, now, held, mq }
