-- Shared by settle.lua and lease_apply.lua (scripts.py puts it where `--#include collect`
-- stands): Redis's clock, and what a debit may take beyond its hold. It reads the script's
-- own locals, declared before the include: `f` (the reservation record's fields), `metric`
-- and `limit` (each counter's, by its index in `f`), `limit_of`, `held` (the hold the debit
-- takes first), `floorless`, `exact`, `int`, `clock_flag` and `clock_key` (the test clock:
-- '1' and the key of its offset); KEYS[3] is the account hash.
local SLIDE = { mi = 60000, h = 3600000 }
local GRANULES = 12
local clock = nil
-- Redis's clock in ms (read once a call), moved by the test clock's offset when asked.
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = t[1] * 1000 + math.floor(t[2] / 1000)
    if clock_flag == '1' then clock = clock + tonumber(redis.call('GET', clock_key) or '0') end
  end
  return clock
end

-- What a window counts now: a sliding window's current granules, or nil when it is gone.
local function counted(key, field)
  if field == '' then
    local v = redis.call('GET', key)
    return v and exact(v) or nil
  end
  local g = SLIDE[string.match(key, ':(%a+):[^:]+$')] / GRANULES
  local c = math.floor(now_ms() / g)
  local fields = {}
  for n = 0, GRANULES do fields[n + 1] = int(c - GRANULES + n) end
  local used, any = 0, false
  for _, v in ipairs(redis.call('HMGET', key, unpack(fields))) do
    if v then used, any = used + v, true end
  end
  if not any and redis.call('EXISTS', key) == 0 then return nil end
  return used
end

-- The least room any spend window this debit counts in has above its hold.
local function window_room()
  local room = math.huge
  for n = 13, #f - 2, 3 do
    if metric[n] == 's' and limit[n] then
      local used = counted(f[n], f[n + 1])
      if used then room = math.min(room, math.max(0, limit_of(n) - used)) end
    end
  end
  return room
end

-- Grants ended by now whose rest the keeper has not written off yet (`id:rest@end_ms,...`).
local function ended(gx)
  local sum = 0
  if gx then
    for rest, at in string.gmatch(gx, '%d+:(%d+)@(%d+)') do
      if at + 0 <= now_ms() then sum = sum + rest end
    end
  end
  return sum
end

-- (taken, uncollected, why): the hold from what other holds leave above the floor; above
-- the hold, only what is free of holds and ended grants, and free in every spend window.
local function collect(asked)
  local a = redis.call('HMGET', KEYS[3], 'bal', 'held', 'mode', 'cl', 'gx')
  local take, why = asked, ''
  local line = a[4] and exact(a[4]) or nil
  if a[1] and not floorless and (line or (a[3] or 'prepaid') ~= 'postpaid') then
    local room = exact(a[1]) - (exact(a[2] or '0') - held) + (line or 0)
    local own = math.min(held, math.max(0, room))
    local free = math.max(0, room - held - ended(a[5]))
    if own + free < take then take, why = own + free, 'balance' end
  end
  if take > held then
    local w = held + window_room()
    if w < take then take, why = w, 'window' end
  end
  return take, asked - take, why
end

-- A rise is clipped to the room left under the counter's limit (spend was, by `collect`).
local function rise(n, d)
  if d <= 0 or not limit[n] or metric[n] == 's' then return d end
  local used = counted(f[n], f[n + 1]) or 0
  return math.min(d, math.max(0, limit_of(n) - used))
end
