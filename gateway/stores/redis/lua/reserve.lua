-- Authorize a key and reserve a request's worst case against every quota window of the key
-- and its account, and against the balance, atomically. One round trip; time from Redis.
--
-- The same script holds a metered (non-token) authorization: a meter code and quantity
-- replace the token amounts, the key may be absent (a service acting on an account by id),
-- and a reported event may count its quota windows or balance without being refused by them.
--
-- KEYS: 1 account hash, 2 key hash, 3 reservations hash, 4 reservation deadlines zset,
--       5 shard ready marker, 6 test clock offset, then only when ARGV[13] names an end
--       user: 7 the account's live end users (zset: id -> when its last counter expires);
--       then the hashes of the keys the key was minted under (its `an`) and every quota
--       counter this call may touch (see gateway/stores/redis/declared.py);
--       a counter not declared is not touched; for a meter, last, the closed marker of this
--       request id
-- ARGV: 1 request id, 2 account id, 3 key id ('' = no key), 4 requests, 5 input tokens,
--       6 max output tokens, 7 worst-case spend micros, 8 tz offset ms, 9 reservation ttl ms,
--       10 use test clock (1/0), 11 counter key prefix, 12 mode: '' reserves; 'key' only
--       checks the key and account; 'check' runs every check and reserves nothing;
--       'lease' (the lease's stream last in KEYS) reserves ARGV[23] times the amounts
--       of ARGV 4-7 at most (a lease:
--       billing/money/leases.py), fewer where a quarter-like share (ARGV[24], basis points) of
--       a window's or the balance's headroom is less, and none below four: then it answers
--       {0, 'unleasable'}, as it does for an account in a commitment's period; ARGV[25]
--       the longest a lease lives (ms);
--       13 end user id ('' or absent = none, '!' = one out of bounds: billing/money/end_users.py),
--       14 how many end users with live budget windows an account may have (with an end
--       user only); then for a meter (all absent otherwise; 13 and 14 then ''): 15 meter quota code (m.<name>), 16 max quantity, 17 service name,
--       18 on expiry (c|v), 19 occurred at ms, 20 refuse over quota (1/0), 21 refuse over
--       balance (1/0), 22 metadata (base64 of its JSON; '' = none)
-- An end user's budget is its own (`u:<id>` in the account hash), else the key's default
-- for end users (`uq` in the key hash), else the account's (`uq`); its counters are scope
-- 'u', owner '<account>:<end user>'. An end user not yet live (none of its counters alive)
-- is refused {0, 'end_users_full', limit, plan, now} while the account has ARGV[14] live.
-- A key's state `st`: 'a' active, 'r' revoked, 'p' paused after a spend anomaly (refused
-- 'key_paused' until its owner lifts it: gateway/services/trust/key_pauses.py).
-- A key's team (`tm`) and the team's quotas (`tq`, copied to each of its keys' hashes) are
-- read with the key: its counters are scope 't', owner the team.
-- A key minted by a key (`an`: the minting key's id and its ancestors', nearest first) is
-- counted in every ancestor's own windows too (scope 'k', the ancestor's `q` read live from
-- its hash), so keys minted under a capped key share its cap and a limit tightened later
-- holds them at once.
-- The account hash's `mk` (basis points, absent = 0) marks a proxied call's worst-case spend
-- up before anything checks or holds it: the balance check, the hold and the spend windows
-- all see what the call may be charged. A meter is priced by its operator: never marked up.
-- A reviewed markup change scheduled for the account (`mkn` from `mka` ms) replaces `mk`
-- from that instant of this script's clock, the reservation's: every process switches at once.
-- The account hash's `bk` is its BYOK version (services/contracts/byok.py; absent = 0), handed back
-- so a process whose copy of the account's own provider keys is older refuses the call.
-- The account hash's `cme`..`cmt` are its commitment's open period (see below; their
-- Python home: stores/redis/holds/commitments.py): a call it funds is held there too and priced
-- at its rate, which the reply's markup bps then is; a used-up commitment that refuses
-- answers the balance refusal `commitment_exhausted` with what it has left.
-- Reply: {1, now, req_limit, req_remaining, req_reset, tok_limit, tok_remaining, tok_reset,
--         plan, markup bps applied, BYOK version}, and for a lease: the units held, then
--         when it must stop admitting at the latest: the key's expiry, the scheduled
--         markup's start and the next grant's end (each 0 when none)
--        or {0, reason, ...details}; a balance refusal ends with plan and markup bps applied;
--        a quota refusal ends with plan, now (so answers measure Retry-After on the same
--        clock that decided) and the id of its scope (key, team, account or end user);
--        or {0, 'undeclared', now, key quota spec, account quota spec, key end-user spec,
--        account end-user spec, the end user's own spec, the key's team, the team's quota
--        spec, the ancestors as `id=spec,...` (spec `?` when its hash was not in KEYS)},
--        having changed nothing, when a
--        counter it needs was not in KEYS; {0, 'end_user_invalid'} when an end-user budget
--        applies and the id is out of bounds. A meter request id that is open
--        answers {0, 'duplicate'}, one already closed {0, 'closed', marker}.
local DAY = 86400000
local SLIDE = { mi = 60000, h = 3600000 }
local GRANULES = 12

-- Every string.format costs ~1,500 instructions in Redis: what arrives as a string (an
-- amount, a limit) is written as it came once checked exact, and granule names are built
-- from one formatted hundred and a two-digit tail.
local function int(x) return string.format('%d', x) end
local find, sub = string.find, string.sub
local TAILS = '00010203040506070809101112131415161718192021222324252627282930313233343536373839'
  .. '40414243444546474849505152535455565758596061626364656667686970717273747576777879'
  .. '8081828384858687888990919293949596979899'
-- Lua numbers are doubles: every amount must stay an integer below 2^53 to be exact.
local EXACT = 9007199254740992
local function exact(x)
  if not x or x == '' then return 0 end  -- an absent amount (a meter has no tokens)
  local n = tonumber(x)
  if not n or n ~= math.floor(n) or n >= EXACT or n <= -EXACT then
    return error('reserve: ' .. tostring(x) .. ' is not an exact integer')
  end
  return n
end

-- Replies hold integers as strings. Hot paths read them with arithmetic, which parses once
-- (tonumber parses twice); tonumber stays where a string may not be a number.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[10] == '1' then now = now + tonumber(redis.call('GET', KEYS[6]) or '0') end

if redis.call('EXISTS', KEYS[5]) == 0 then return {0, 'not_ready'} end
local meter = ARGV[15] or ''
if meter ~= '' then
  local closed = redis.call('GET', KEYS[#KEYS])
  if closed then return {0, 'closed', closed} end
  if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {0, 'duplicate'} end
end
local k = {ARGV[2], 'a', '0', '', false, false, false, false}
if ARGV[3] ~= '' then
  k = redis.call('HMGET', KEYS[2], 'acct', 'st', 'exp', 'q', 'uq', 'tm', 'tq', 'an')
  if not k[1] or k[1] ~= ARGV[2] then return {0, 'key_invalid'} end
  if k[2] ~= 'a' then return {0, k[2] == 'p' and 'key_paused' or 'key_revoked'} end
  local exp = tonumber(k[3] or '0')
  if exp > 0 and now >= exp then return {0, 'key_expired'} end
end
local eu = ARGV[13] or ''
local a = redis.call('HMGET', KEYS[1], 'bal', 'held', 'mode', 'billing', 'plan', 'q', 'mk', 'uq',
  'u:' .. eu, 'cl', 'gx', 'pend', 'mkn', 'mka', 'bk', 'cme', 'cma', 'cmu', 'cmh', 'cmt')
if not a[1] then return {0, 'key_invalid'} end
if a[12] == '1' then return {0, 'account_pending'} end
if a[12] == '2' then return {0, 'account_rejected'} end
local plan = a[5] or ''
local mk = 0
if meter == '' then
  mk = exact(a[7])
  if a[14] and now >= exact(a[14]) then mk = exact(a[13]) end  -- a scheduled markup in force
end
local mode = ARGV[12] or ''
local bk = a[15] or '0'
local function checked() return { 1, now, -1, 0, 0, -1, 0, 0, plan, mk, bk } end
if mode == 'key' then return checked() end

local eu_spec, own = '', ''
if eu ~= '' then
  if eu ~= '!' then own = a[9] or '' end
  eu_spec = own
  if eu_spec == '' then eu_spec = k[5] or '' end
  if eu_spec == '' then eu_spec = a[8] or '' end
  if eu == '!' and eu_spec ~= '' then return { 0, 'end_user_invalid' } end
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end

-- Calendar windows: the period's id and the instant (UTC ms) it resets; -1 for total.
local off = tonumber(ARGV[8])
local function period(w)
  local d = math.floor((now + off) / DAY)
  if w == 'd' then return int(d), (d + 1) * DAY - off end
  if w == 'w' then
    local wk = math.floor((d + 3) / 7)
    return int(wk), (wk * 7 + 4) * DAY - off
  end
  if w == 'mo' then
    local y, m = civil_from_days(d)
    local ny, nm = y, m + 1
    if nm == 13 then ny, nm = y + 1, 1 end
    return int(y) .. '-' .. int(m), days_from_civil(ny, nm, 1) * DAY - off
  end
  return 'all', -1
end

local declared = {}
local LIVE = KEYS[7]  -- with an end user only
for n = eu == '' and 7 or 8, #KEYS do declared[KEYS[n]] = true end
-- The ancestors' ids and specs ({id, spec}; spec false when its hash is not in KEYS).
local anc = {}
if k[8] and k[8] ~= '' then
  local stem = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[3])
  for id in string.gmatch(k[8], '[^,]+') do
    local name = stem .. id
    anc[#anc + 1] = { id, declared[name] and (redis.call('HGET', name, 'q') or '') }
  end
end
local function undeclared()
  local told = {}
  for n, an in ipairs(anc) do told[n] = an[1] .. '=' .. (an[2] or '?') end
  return { 0, 'undeclared', now, k[4] or '', a[6] or '', k[5] or '', a[8] or '', own,
    k[6] or '', k[7] or '', table.concat(told, ',') }
end

-- ceil(x * (10000 + mk) / 10000) in integers exact below 2^53 (x = q * 10000 + rest), the
-- same as billing.money.micros.marked_up.
local function marked_up(x)
  if mk == 0 then return x end
  local rest = x % 10000
  return exact((x - rest) / 10000 * (10000 + mk) + math.ceil(rest * (10000 + mk) / 10000))
end

-- A commitment (billing/contracts/commitments.py) in its period (`cme`: the period's end, ms): a call
-- whose worst case at the commitment's rate fits what the period's allowance `cma` leaves
-- above what it drew (`cmu`) and holds (`cmh`) is held against it at that rate; else
-- `cmt`'s policy (`discount:o|r|b:overage`): overage prices it at the overage rate, refuse
-- answers a balance refusal `commitment_exhausted`, balance leaves the account's own rate.
-- Each rate is the markup and the adjustment multiplied, rounded up to whole basis points
-- (billing.contracts.commitments.effective_bps). An account without a commitment reads five nil fields.
local committed = false
if a[16] and meter == '' and now < exact(a[16]) then
  if mode == 'lease' then return { 0, 'unleasable' } end
  local cmt = a[20]
  local c1 = find(cmt, ':', 1, true)
  local c2 = find(cmt, ':', c1 + 1, true)
  local own = mk
  local function rate(adjust)
    return math.max(math.ceil((10000 + own) * (10000 + adjust) / 10000) - 10000, -9999)
  end
  mk = rate(-exact(sub(cmt, 1, c1 - 1)))
  local left = exact(a[17] or '0') - exact(a[18] or '0') - exact(a[19] or '0')
  if marked_up(exact(ARGV[7])) <= left then
    committed = true
  else
    local policy = sub(cmt, c1 + 1, c2 - 1)
    if policy == 'r' then return { 0, 'balance', 'commitment_exhausted', left, plan, mk } end
    mk = policy == 'o' and rate(exact(sub(cmt, c2 + 1))) or own
  end
end
local r, i, o, s = exact(ARGV[4]), exact(ARGV[5]), exact(ARGV[6]), marked_up(exact(ARGV[7]))
local amounts = { r = r, i = i, o = o, t = i + o, s = s }
local mq = 0
if meter ~= '' then
  mq = exact(ARGV[16])
  amounts = { s = s, [meter] = mq }
end
local enforce = meter == '' or ARGV[20] == '1'
local prefix = ARGV[11]
-- Five values per counter to add to: its key, its granule ('' for a period counter), metric,
-- expiry (ms: a sliding window's ttl, a period's reset) and limit (as its spec wrote it).
local touched = {}
local function touch(key, field, m, ttl, lim)
  local n = #touched
  touched[n + 1], touched[n + 2], touched[n + 3], touched[n + 4], touched[n + 5] =
    key, field, m, ttl, lim
end
-- The tightest request window and token window: limit (-1: none), remaining, reset.
local r_lim, r_left, r_reset, t_lim, t_left, t_reset = -1, 0, 0, -1, 0, 0
-- A lease's headroom per metric: the least any window it counts in has left (and the
-- balance's, for spend).
local room = {}
local function note_room(m, left)
  if not room[m] or left < room[m] then room[m] = left end
end
local function note_tightest(m, lim, remaining, reset)
  if m == 'r' then
    if r_lim == -1 or remaining < r_left then r_lim, r_left, r_reset = lim, remaining, reset end
  elseif m == 't' then
    if t_lim == -1 or remaining < t_left then t_lim, t_left, t_reset = lim, remaining, reset end
  end
end

-- The granule names of one window size, built once per call and shared by every window of
-- that size (a key's and its account's minute windows read the same fields).
local spans = {}
local function granules(w)
  local span = spans[w]
  if not span then
    local g = SLIDE[w] / GRANULES
    local c = math.floor(now / g)
    local lo = c - GRANULES
    local fields = { false, false, false, false, false, false, false, false, false, false,
      false, false, false }  -- GRANULES + 1, sized at once
    if lo < 100 then
      for n = 1, GRANULES + 1 do fields[n] = int(lo + n - 1) end
    else
      local tail = lo % 100
      local head = int((lo - tail) / 100)
      for n = 1, GRANULES + 1 do
        if tail == 100 then tail, head = 0, int((lo + n - 1) / 100) end
        fields[n] = head .. sub(TAILS, 2 * tail + 1, 2 * tail + 2)
        tail = tail + 1
      end
    end
    span = { g, c, fields }
    spans[w] = span
  end
  return span[1], span[2], span[3]
end

-- Sliding windows sum GRANULES + 1 granules, a span that always contains the true window:
-- they never admit more than the limit in any rolling period, and count each unit for
-- between one period and one period plus one granule.
local function sliding(base, w, m, lim, lim_text, amount, scope, shown)
  if not declared[base] then return undeclared() end
  local g, c, fields = granules(w)
  local vals = redis.call('HMGET', base, unpack(fields))
  local used = 0
  for n = 1, GRANULES + 1 do
    local v = vals[n]
    if v then used = used + v end
  end
  if enforce and used + amount > lim then
    local reset = -1
    if amount <= lim then
      local u = used
      for n = 1, GRANULES + 1 do
        u = u - tonumber(vals[n] or '0')
        if u + amount <= lim then reset = (c + n) * g break end
      end
    end
    return { 0, 'quota', scope, w, m, lim, used, amount, reset, plan, now, shown }
  end
  touch(base, fields[GRANULES + 1], m, SLIDE[w] + 2 * g, lim_text)
  note_tightest(m, lim, lim - used - amount, (c + GRANULES + 1) * g)
  note_room(m, lim - used)
  return nil
end

local function calendar(base, w, m, lim, lim_text, amount, scope, shown)
  local pid, reset = period(w)
  local key = base .. ':' .. pid
  if not declared[key] then return undeclared() end
  local used = (redis.call('GET', key) or 0) + 0
  if enforce and used + amount > lim then
    return { 0, 'quota', scope, w, m, lim, used, amount, reset, plan, now, shown }
  end
  touch(key, '', m, reset, lim_text)
  note_tightest(m, lim, lim - used - amount, reset)
  note_room(m, lim - used)
  return nil
end

-- When the end user's last counter touched expires (ms; math.huge: never).
local eu_until = nil
local function note_end_user()
  local n = #touched
  local field, ttl = touched[n - 3], touched[n - 1]
  local at = field ~= '' and now + ttl or (ttl < 0 and math.huge or ttl + DAY)
  if not eu_until or at > eu_until then eu_until = at end
end

-- `shown` is the id a refusal names: the key's, the account's, or the end user's. A spec is
-- `window:metric:limit` quotas joined by ';' (billing/quotas.encode_quotas), read with plain
-- finds: a pattern costs several times as much.
local function check(scope, id, spec, shown)
  if not spec then return nil end
  local from = 1
  while true do
    local c1 = find(spec, ':', from, true)
    if not c1 then return nil end
    local c2 = find(spec, ':', c1 + 1, true)
    local semi = find(spec, ';', c2 + 1, true)
    local m = sub(spec, c1 + 1, c2 - 1)
    local amount = amounts[m]
    if amount then
      local w, lim = sub(spec, from, c1 - 1), sub(spec, c2 + 1, (semi or 0) - 1)
      local base = prefix .. scope .. ':' .. id .. ':' .. w .. ':' .. m
      local fn = SLIDE[w] and sliding or calendar
      local refused = fn(base, w, m, lim + 0, lim, amount, scope, shown or id)
      if refused then return refused end
      if scope == 'u' then note_end_user() end
    end
    if not semi then return nil end
    from = semi + 1
  end
end

local function check_ancestors()
  for _, an in ipairs(anc) do
    if not an[2] then return undeclared() end
    local refused = check('k', an[1], an[2])
    if refused then return refused end
  end
  return nil
end

local refused = check('u', ARGV[2] .. ':' .. eu, eu_spec, eu) or check('k', ARGV[3], k[4])
  or check_ancestors() or (k[6] and check('t', k[6], k[7])) or check('a', ARGV[2], a[6])
if refused then return refused end

-- An end user whose counters have all expired is new: admitted while the account has fewer
-- than ARGV[14] live ones, so ids a client invents cannot grow Redis without bound.
if eu_until then
  local seen = redis.call('ZSCORE', LIVE, eu)
  if not seen or seen + 0 <= now then
    redis.call('ZREMRANGEBYSCORE', LIVE, '-inf', int(now))
    local cap = exact(ARGV[14])
    if redis.call('ZCARD', LIVE) >= cap then
      return { 0, 'end_users_full', cap, plan, now }
    end
  end
end

-- What may be spent now: the balance less what is held and what grants that have ended
-- still hold until the keeper writes them off (`gx`: `grant id:rest@end ms,...`, each rest
-- at most what the grant still holds), above the floor: 0, or minus the credit line `cl`.
-- A postpaid account without a credit line has no floor.
local function spendable()
  local ended = 0
  for rest, at in string.gmatch(a[11] or '', '%d+:(%d+)@(%d+)') do
    if at + 0 <= now then ended = ended + rest end
  end
  return exact(a[1]) - exact(a[2] or '0') - ended + exact(a[10] or '0')
end
local postpaid = (a[3] or 'prepaid') == 'postpaid'
if postpaid and a[4] ~= '1' then
  return { 0, 'balance', 'no_payment_method', 0, plan, mk }
elseif (a[10] or not postpaid) and (meter == '' or ARGV[21] == '1') then
  local avail = spendable()
  if avail < s then return { 0, 'balance', 'insufficient_balance', avail, plan, mk } end
  note_room('s', avail)
end
if mode == 'check' then return checked() end

-- A lease holds `units` times every amount (billing.money.leases.grant_count: the same rule).
local units = 1
if mode == 'lease' then
  units = exact(ARGV[23])
  local share = exact(ARGV[24])
  for m, left in pairs(room) do
    local each = amounts[m]
    if each and each > 0 then
      units = math.min(units, math.floor(math.floor(math.max(left, 0) * share / 10000) / each))
    end
  end
  if units < 4 then return { 0, 'unleasable' } end
  for m, each in pairs(amounts) do amounts[m] = each * units end
  s = amounts.s
end

if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return { 0, 'duplicate' } end

-- The reservation record (its Python home: stores/redis/records.py):
-- acct|key|held|r|i|o|at|meter|mq|service|on expiry|occurred at, then key|field|metric<limit
-- per counter it added to, then (a meter's, when given) its metadata: one trailing field,
-- which the scripts' loops over counter triples (13 .. #f - 2, step 3) never reach.
local function written(arg) return (arg and arg ~= '') and arg or '0' end  -- checked exact
local strs = { r = written(ARGV[4]), i = written(ARGV[5]), o = written(ARGV[6]),
  s = mk == 0 and written(ARGV[7]) or int(s) }  -- amounts as written
if units > 1 then strs = { r = int(amounts.r), i = int(amounts.i), o = int(amounts.o), s = int(s) } end
-- A meter's on-expiry policy gains an `n` when its reported events may take the balance
-- below its floor (`allow_negative`: refused over balance 0): settle.lua collects them whole.
local policy = (ARGV[18] or '') .. ((meter ~= '' and ARGV[21] == '0') and 'n' or '')
if committed then policy = 'C' end  -- held against the commitment too (settle.lua draws it)
local rec = { ARGV[2], ARGV[3], strs.s, strs.r, strs.i, strs.o, int(now), meter,
  meter == '' and '0' or written(ARGV[16]),
  ARGV[17] or '', policy, ARGV[19] or '' }
-- A counter's expiry, and a granule hash's clean-up, are set by the write that creates the
-- counter or the granule, seen as the increment answering the amount itself (a counter or
-- field at 0 takes the same path, harmlessly). Granules are created in the current granule
-- only, so the hash outlives its newest granule's last counted instant by one granule; a
-- period counter's expiry follows from its period alone.
for n = 1, #touched, 5 do
  local key, field, m, ttl, lim = touched[n], touched[n + 1], touched[n + 2], touched[n + 3],
    touched[n + 4]
  local amount = amounts[m]
  local text = strs[m]
  if not text then
    text = int(amount)
    strs[m] = text
  end
  if field ~= '' then
    if redis.call('HINCRBY', key, field, text) == amount then
      redis.call('PEXPIRE', key, int(ttl))
      if redis.call('HLEN', key) > GRANULES + 4 then
        local oldest = tonumber(field) - GRANULES
        for _, f in ipairs(redis.call('HKEYS', key)) do
          if tonumber(f) < oldest then redis.call('HDEL', key, f) end
        end
      end
    end
  elseif redis.call('INCRBY', key, text) == amount and ttl > 0 then
    redis.call('PEXPIREAT', key, int(ttl + DAY))
  end
  rec[#rec + 1] = key
  rec[#rec + 1] = field
  rec[#rec + 1] = m .. '<' .. lim  -- the limit settle.lua keeps the counter under
end
if (ARGV[22] or '') ~= '' then rec[#rec + 1] = ARGV[22] end
if eu_until then
  local score = eu_until == math.huge and '+inf' or int(eu_until)
  redis.call('ZADD', LIVE, 'GT', score, eu)
  local last = redis.call('ZRANGE', LIVE, -1, -1, 'WITHSCORES')
  if last[2] ~= 'inf' then redis.call('PEXPIREAT', LIVE, last[2]) end
end
redis.call('HINCRBY', KEYS[1], 'held', strs.s)
if committed then redis.call('HINCRBY', KEYS[1], 'cmh', strs.s) end
redis.call('HSET', KEYS[3], ARGV[1], table.concat(rec, '|'))
redis.call('ZADD', KEYS[4], int(now + tonumber(ARGV[9])), ARGV[1])
if mode == 'lease' then
  -- Until when a lease may admit (ARGV[25]: billing.money.leases.MAX_LIFE_MS): a change to the
  -- account or the key waits that long when it is still to come (stores/redis/leases/process.py).
  local lz = int(now + exact(ARGV[25]))
  -- The lease's stream, last in KEYS, made now (empty): its process appends with
  -- NOMKSTREAM, so an append after the lease's close (which drops it) adds nothing.
  redis.call('XGROUP', 'CREATE', KEYS[#KEYS], 'lease', '$', 'MKSTREAM')
  redis.call('HSET', KEYS[1], 'lz', lz)
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'lz', lz) end
  local stem = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[3])
  for _, an in ipairs(anc) do redis.call('HSET', stem .. an[1], 'lz', lz) end
  local gx_next = 0
  for at in string.gmatch(a[11] or '', '%d+:%d+@(%d+)') do
    at = at + 0
    if at > now and (gx_next == 0 or at < gx_next) then gx_next = at end
  end
  return { 1, now, r_lim, r_left, r_reset, t_lim, t_left, t_reset, plan, mk, bk, units,
    k[3] or '0', a[13] and a[14] or '0', int(gx_next) }
end
return { 1, now, r_lim, r_left, r_reset, t_lim, t_left, t_reset, plan, mk, bk }
