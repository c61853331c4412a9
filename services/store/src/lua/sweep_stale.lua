-- Moves FREE taxis whose last fix is older than the bound out of the free index into
-- `taxis:pos` (hygiene: queries filter stale fixes themselves; the last position is kept).
-- KEYS: fix times zset, free geo, positions geo
-- ARGV: oldest acceptable fix ms, max to move
local stale = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, id in ipairs(stale) do
  local p = redis.call('GEOPOS', KEYS[2], id)[1]
  if p then
    redis.call('GEOADD', KEYS[3], p[1], p[2], id)
    redis.call('ZREM', KEYS[2], id)
    moved = moved + 1
  end
end
return moved
