#!lua
-- Moves FREE taxis whose last fix is older than the bound out of the free index (and its
-- free-fix and capability indexes) into the positions index (hygiene: queries filter stale
-- fixes themselves; the last position is kept). It reads the free-fix index, which holds
-- the free index's taxis only, oldest first: the work is the stale free taxis, whatever
-- the number of off-duty or busy taxis. At most `most` per call; the caller calls again
-- while a call moved `most`.
-- KEYS: free fix times zset, free geo, positions geo, free wheelchair geo, free caring geo
-- ARGV (after NOW): oldest acceptable fix ms, most to move
-- Reply: how many moved (an integer).
local free_fix, free_geo, pos_geo, free_wc, free_caring = own_keys()
local fresh, most = own_args()
local stale = redis.call('ZRANGE', free_fix, '-inf', '(' .. fresh, 'BYSCORE', 'LIMIT', 0, tonumber(most))
if #stale == 0 then return 0 end
local at = mcall('GEOPOS', free_geo, stale)
local moves = {}
for i, id in ipairs(stale) do
  local p = at[i]
  if p then moves[#moves + 1] = p[1]; moves[#moves + 1] = p[2]; moves[#moves + 1] = id end
end
if #moves > 0 then mcall('GEOADD', pos_geo, moves) end
mcall('ZREM', free_geo, stale)
mcall('ZREM', free_fix, stale)
mcall('ZREM', free_wc, stale)
mcall('ZREM', free_caring, stale)
return #stale
