-- Takes taxis whose last fix is older than the bound out of the free index (hygiene only:
-- queries filter stale fixes themselves).
-- KEYS: fix times zset, free geo
-- ARGV: oldest acceptable fix ms, max to remove
local stale = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
if #stale > 0 then return redis.call('ZREM', KEYS[2], unpack(stale)) end
return 0
