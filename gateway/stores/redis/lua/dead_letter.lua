-- Park a settlement message the ledger cannot take: copy it to its shard's dead-letter
-- stream with the reason, acknowledge it and delete it from the settlement stream, in one
-- step, so a crash leaves it in exactly one of the two (reconcile reads both).
-- KEYS: 1 the shard's settlement stream, 2 its dead-letter stream
-- ARGV: 1 consumer group, 2 message id, 3 reason, 4 parked at (ms)
-- Reply: 1 parked, 0 no longer pending (another settler wrote and acknowledged it).
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #entry == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
local fields = entry[1][2]
table.insert(fields, 'x-reason')
table.insert(fields, ARGV[3])
table.insert(fields, 'x-id')
table.insert(fields, ARGV[2])
table.insert(fields, 'x-at')
table.insert(fields, ARGV[4])
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
