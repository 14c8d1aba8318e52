-- Acknowledge and delete a written batch's messages on one Redis, in one call: the pipeline
-- of an XACK and an XDEL per shard stream cost the settler more CPU than reading them.
-- (A Redis Cluster refuses keys of several slots in one script: there the settler pipelines.)
-- KEYS: the shard streams, then the settled-rows counter (Keys.settled_stat)
-- ARGV: 1 consumer group, 2 rows written (added to the counter), then for each stream in
--       KEYS order: its number of ids, then the ids.
-- Reply: the number of streams acknowledged.
local group, at = ARGV[1], 3
local streams = #KEYS - 1
for i = 1, streams do
  local n = tonumber(ARGV[at])
  local last = at + n
  for from = at + 1, last, 1000 do  -- unpack is bounded by Lua's stack: 1,000 ids a call
    local to = math.min(from + 999, last)
    redis.call('XACK', KEYS[i], group, unpack(ARGV, from, to))
    redis.call('XDEL', KEYS[i], unpack(ARGV, from, to))
  end
  at = last + 1
end
local written = tonumber(ARGV[2])
if written > 0 then redis.call('INCRBY', KEYS[streams + 1], written) end
return streams
