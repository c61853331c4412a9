#!lua flags=no-writes
-- Free taxis with a fresh fix near a point, nearest first. Wheelchair-only searches the
-- free wheelchair index, so ordinary taxis never crowd accessible ones out. The work is
-- bounded: a page of 2 × limit + 16 candidates, looked at again with a larger page only
-- while stale fixes crowd out fresh ones, never past `max_scan` candidates.
-- KEYS: free geo, fix times zset, free wheelchair geo
-- ARGV (after NOW): lon, lat, radius m, limit, oldest acceptable fix ms, wheelchair only
--   (0/1), most candidates to look at
-- Reply: {kind = 'found', taxis = [{id, dist, lon, lat, fix}]}
local free_geo, fixes, free_wc = own_keys()
local lon, lat, radius, limit, fresh, wc_only, max_scan = own_args()
limit, fresh, max_scan = tonumber(limit), tonumber(fresh), tonumber(max_scan)
local index = free_geo
if wc_only == '1' then index = free_wc end
local count = math.min(limit * 2 + 16, max_scan)
local out = {}
while true do
  local hits = redis.call('GEOSEARCH', index, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm',
    'ASC', 'COUNT', count, 'WITHDIST', 'WITHCOORD')
  out = {}
  if #hits > 0 then
    local ids = {}
    for i, h in ipairs(hits) do ids[i] = h[1] end
    local fix_of = mcall('HMGET', fixes, ids)
    for i, h in ipairs(hits) do
      if #out >= limit then break end
      local f = fix_of[i] and tonumber(fix_of[i])
      if f and f >= fresh then
        out[#out + 1] = {id = h[1], dist = tonumber(h[2]), lon = tonumber(h[3][1]),
          lat = tonumber(h[3][2]), fix = f}
      end
    end
  end
  -- Stale taxis may have crowded out fresh ones: look further, within the bound.
  if #out >= limit or #hits < count or count >= max_scan then break end
  count = math.min(count * 8, max_scan)
end
return reply('found', {taxis = out})
