-- Send a parked settlement message back to its stream (the cause fixed), in one step.
-- The account's change counter moves too: reconcile's fenced read (balance_repair.py) pages
-- the stream, then the dead-letter stream, and a message moving the other way between the
-- two reads would be missed; the counter makes that read's repair refuse and read again.
-- KEYS: 1 the settlement stream, 2 its dead-letter stream, 3 the account hash
-- ARGV: 1 dead-letter entry id
-- Reply: the new message id, or false when the entry is gone.
local entry = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #entry == 0 then return false end
local fields, out = entry[1][2], {}
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) ~= 'x-' then
    table.insert(out, fields[i])
    table.insert(out, fields[i + 1])
  end
end
local id = redis.call('XADD', KEYS[1], '*', unpack(out))
redis.call('XDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'seq', 1) end
return id
