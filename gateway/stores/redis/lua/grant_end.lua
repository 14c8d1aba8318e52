-- Set one credit grant's entry in the account hash's `gx`, the ends reserve.lua and
-- settle.lua read: `grant id:rest micros@end ms`, comma-separated (its Python home:
-- stores/redis/records.py, `GrantEnd`). A rest of 0 drops the entry. The rest is at most what
-- the grant still holds (the ledger's allocation, before debits still queued), so
-- "balance - rests of grants ended by now" never counts an ended grant's money as spendable.
-- KEYS: 1 account hash.  ARGV: 1 grant id, 2 rest micros, 3 end ms.
-- Reply: the entries left.
local out = {}
for e in string.gmatch(redis.call('HGET', KEYS[1], 'gx') or '', '[^,]+') do
  if string.match(e, '^(%d+):') ~= ARGV[1] then out[#out + 1] = e end
end
if tonumber(ARGV[2]) > 0 then out[#out + 1] = ARGV[1] .. ':' .. ARGV[2] .. '@' .. ARGV[3] end
if #out == 0 then redis.call('HDEL', KEYS[1], 'gx')
else redis.call('HSET', KEYS[1], 'gx', table.concat(out, ',')) end
return #out
