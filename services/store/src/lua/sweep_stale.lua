#!lua
-- Moves FREE taxis whose last fix is older than the bound out of the free index into the
-- positions index (hygiene: queries filter stale fixes themselves; the last position is kept).
-- KEYS: fix times zset, free geo, positions geo
-- ARGV (after NOW): oldest acceptable fix ms, most to move
-- Reply: how many moved (an integer).
local fixes, free_geo, pos_geo = own_keys()
local fresh, most = own_args()
local stale = redis.call('ZRANGE', fixes, '-inf', '(' .. fresh, 'BYSCORE', 'LIMIT', 0, tonumber(most))
local moved = 0
for _, id in ipairs(stale) do
  local p = redis.call('GEOPOS', free_geo, id)[1]
  if p then
    redis.call('GEOADD', pos_geo, p[1], p[2], id)
    redis.call('ZREM', free_geo, id)
    moved = moved + 1
  end
end
return moved
