-- Stores a batch of position fixes in four commands whatever its size: a FREE taxi's
-- position goes to the free index, any other on-duty taxi's to `taxis:pos`.
-- KEYS: states, free geo, positions geo, fix times zset
-- ARGV: n, oldest fresh fix ms, then n groups of (id, lon, lat, fix_ms)
-- Returns one code per fix: 0 stored, 1 unknown taxi, 2 off duty, 3 older than the stored fix.
local n = tonumber(ARGV[1])
local fresh = tonumber(ARGV[2])
local ids = {}
for i = 1, n do ids[i] = ARGV[3 + (i - 1) * 4] end
local states = redis.call('HMGET', KEYS[1], unpack(ids))
local fixes = redis.call('ZMSCORE', KEYS[4], unpack(ids))
local pos, free, fix, codes, back = {}, {}, {}, {}, {}
local newest = {}
for i = 1, n do
  local b = 3 + (i - 1) * 4
  local id, st = ids[i], states[i]
  local t = tonumber(ARGV[b + 3])
  local old = fixes[i] and tonumber(fixes[i])
  if not st then
    codes[i] = 1
  elseif st == 'off' then
    codes[i] = 2
  elseif (old and old > t) or (newest[id] and newest[id] > t) then
    codes[i] = 3
  else
    newest[id] = t
    codes[i] = 0
    fix[#fix + 1] = t; fix[#fix + 1] = id
    local into = pos
    if st == 'free' then
      into = free
      -- Swept out of the free index while stale: its position sat in taxis:pos.
      if not old or old < fresh then back[#back + 1] = id end
    end
    into[#into + 1] = ARGV[b + 1]; into[#into + 1] = ARGV[b + 2]; into[#into + 1] = id
  end
end
if #fix > 0 then redis.call('ZADD', KEYS[4], unpack(fix)) end
if #pos > 0 then redis.call('GEOADD', KEYS[3], unpack(pos)) end
if #free > 0 then redis.call('GEOADD', KEYS[2], unpack(free)) end
if #back > 0 then redis.call('ZREM', KEYS[3], unpack(back)) end
return codes
