-- Stores a batch of position fixes: five commands whatever the batch size.
-- KEYS: states, free geo, positions geo, fix times zset, motion hash
-- ARGV: n, then n groups of (id, lon, lat, fix_ms, motion)
-- Returns one code per fix: 0 stored, 1 unknown taxi, 2 off duty, 3 older than the stored fix.
local n = tonumber(ARGV[1])
local ids = {}
for i = 1, n do ids[i] = ARGV[2 + (i - 1) * 5] end
local states = redis.call('HMGET', KEYS[1], unpack(ids))
local fixes = redis.call('ZMSCORE', KEYS[4], unpack(ids))
local pos, free, fix, motion, codes = {}, {}, {}, {}, {}
local newest = {}
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local id, st = ids[i], states[i]
  local t = tonumber(ARGV[b + 3])
  if not st then
    codes[i] = 1
  elseif st == 'off' then
    codes[i] = 2
  elseif (fixes[i] and tonumber(fixes[i]) > t) or (newest[id] and newest[id] > t) then
    codes[i] = 3
  else
    newest[id] = t
    codes[i] = 0
    pos[#pos + 1] = ARGV[b + 1]; pos[#pos + 1] = ARGV[b + 2]; pos[#pos + 1] = id
    fix[#fix + 1] = t; fix[#fix + 1] = id
    motion[#motion + 1] = id; motion[#motion + 1] = ARGV[b + 4]
    if st == 'free' then
      free[#free + 1] = ARGV[b + 1]; free[#free + 1] = ARGV[b + 2]; free[#free + 1] = id
    end
  end
end
if #pos > 0 then
  redis.call('GEOADD', KEYS[3], unpack(pos))
  redis.call('ZADD', KEYS[4], unpack(fix))
  redis.call('HSET', KEYS[5], unpack(motion))
end
if #free > 0 then redis.call('GEOADD', KEYS[2], unpack(free)) end
return codes
