#!lua flags=no-writes
-- Free taxis with a fresh fix near a point, nearest first.
-- KEYS: free geo, fix times zset, wheelchair set
-- ARGV (after NOW): lon, lat, radius m, limit, oldest acceptable fix ms, wheelchair only (0/1)
-- Reply: {kind = 'found', taxis = [{id, dist, lon, lat, fix}]}
local free_geo, fixes, wheelchair = own_keys()
local lon, lat, radius, limit, fresh, wc_only = own_args()
limit, fresh = tonumber(limit), tonumber(fresh)
local count = limit * 2 + 16
local out = {}
while true do
  local hits = redis.call('GEOSEARCH', free_geo, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm',
    'ASC', 'COUNT', count, 'WITHDIST', 'WITHCOORD')
  out = {}
  if #hits > 0 then
    local ids = {}
    for i, h in ipairs(hits) do ids[i] = h[1] end
    local fix_of = redis.call('ZMSCORE', fixes, unpack(ids))
    for i, h in ipairs(hits) do
      if #out >= limit then break end
      local f = fix_of[i] and tonumber(fix_of[i])
      local ok = f and f >= fresh
      if ok and wc_only == '1' then ok = redis.call('SISMEMBER', wheelchair, h[1]) == 1 end
      if ok then
        out[#out + 1] = {id = h[1], dist = tonumber(h[2]), lon = tonumber(h[3][1]),
          lat = tonumber(h[3][2]), fix = f}
      end
    end
  end
  -- Stale or filtered taxis may have crowded out good ones: look further.
  if #out >= limit or #hits < count or count > 100000 then break end
  count = count * 8
end
return reply('found', {taxis = out})
