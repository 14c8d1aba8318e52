-- A lease's settlement again, after its first append may or may not have reached Redis
-- (the connection failed): appended only if it is neither applied (the lease's seen set)
-- nor still waiting in the lease's stream.
-- KEYS: 1 reservations hash, 2 the lease's stream, 3 the lease's seen set
-- ARGV: 1 lease id, 2 request id, 3 the entry (lease_apply.lua's `m`)
-- Reply: 1 appended or found (it is debited, once), 0 the lease is closed without it (the
--        caller debits it late, as a reservation Redis lost: services/money/settlement.py).
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return 1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local prefix = ARGV[2] .. '|'
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  if string.sub(entry[2][2], 1, #prefix) == prefix then return 1 end
end
redis.call('XADD', KEYS[2], 'NOMKSTREAM', '*', 'm', ARGV[3])
return 1
