-- Free taxis with a fresh fix near a point, nearest first.
-- KEYS: free geo, fix times zset, wheelchair set
-- ARGV: lon, lat, radius_m, limit, oldest acceptable fix ms, wheelchair only (0/1), taxi key prefix
-- Returns flat groups of (id, dist_m, lon, lat, fix_ms, plate, wc, tags).
local limit = tonumber(ARGV[4])
local count = limit * 2 + 16
local out, found = {}, 0
while true do
  local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
    'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', count, 'WITHDIST', 'WITHCOORD')
  out, found = {}, 0
  if #hits > 0 then
    local ids = {}
    for i, h in ipairs(hits) do ids[i] = h[1] end
    local fixes = redis.call('ZMSCORE', KEYS[2], unpack(ids))
    for i, h in ipairs(hits) do
      if found >= limit then break end
      local f = fixes[i] and tonumber(fixes[i])
      local ok = f and f >= tonumber(ARGV[5])
      if ok and ARGV[6] == '1' then ok = redis.call('SISMEMBER', KEYS[3], h[1]) == 1 end
      if ok then
        local info = redis.call('HMGET', ARGV[7] .. h[1], 'plate', 'wc', 'tags')
        found = found + 1
        for _, v in ipairs({h[1], h[2], h[3][1], h[3][2], f, info[1] or '', info[2] or '0', info[3] or ''}) do
          out[#out + 1] = v
        end
      end
    end
  end
  -- Stale or filtered taxis may have crowded out good ones: look further, once.
  if found >= limit or #hits < count or count > 100000 then break end
  count = count * 8
end
return out
