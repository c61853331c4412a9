#!lua
-- Stores a batch of position fixes in four commands whatever its size: a FREE taxi's
-- position goes to the free index, any other on-duty taxi's to the positions index.
-- KEYS: states hash, free geo, positions geo, fix times zset
-- ARGV (after NOW): n, oldest fresh fix ms, then n groups of (id, lon, lat, fix ms)
-- Reply: one code per fix (not JSON, for speed): 0 stored, 1 unknown taxi, 2 off duty,
-- 3 older than the stored fix.
local states, free_geo, pos_geo, fixes = own_keys()
local n, fresh = tonumber(ARGV[2]), tonumber(ARGV[3])
local FIRST = 4
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + (i - 1) * 4] end
local state_of = redis.call('HMGET', states, unpack(ids))
local stored = redis.call('ZMSCORE', fixes, unpack(ids))
local pos, free, fix, codes, back = {}, {}, {}, {}, {}
local newest = {}
for i = 1, n do
  local b = FIRST + (i - 1) * 4
  local id, st = ids[i], state_of[i]
  local lon, lat, t = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local old = stored[i] and tonumber(stored[i])
  if not st then
    codes[i] = 1
  elseif st == TS.off then
    codes[i] = 2
  elseif (old and old > t) or (newest[id] and newest[id] > t) then
    codes[i] = 3
  else
    newest[id] = t
    codes[i] = 0
    fix[#fix + 1] = t; fix[#fix + 1] = id
    local into = pos
    if st == TS.free then
      into = free
      -- Swept out of the free index while stale: its position sat in the positions index.
      if not old or old < fresh then back[#back + 1] = id end
    end
    into[#into + 1] = lon; into[#into + 1] = lat; into[#into + 1] = id
  end
end
if #fix > 0 then redis.call('ZADD', fixes, unpack(fix)) end
if #pos > 0 then redis.call('GEOADD', pos_geo, unpack(pos)) end
if #free > 0 then redis.call('GEOADD', free_geo, unpack(free)) end
if #back > 0 then redis.call('ZREM', pos_geo, unpack(back)) end
return codes
