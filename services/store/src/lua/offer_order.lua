-- Takes the first order of the queue and makes one dispatch attempt for it, atomically:
-- no worker ever holds an order outside Redis, so a worker that dies loses nothing, and
-- orders are attempted strictly in queue order. Give up if it is too old or offered too often;
-- else search free taxis near the pickup (caring fleet first for older passengers, then
-- radius by radius), skipping stale fixes, taxis that had their chance and (for a
-- wheelchair need) inaccessible cars, and offer it to the nearest (or the N nearest in
-- broadcast mode). Nothing in reach: try again after the retry interval.
-- ARGV: prefix, now, (unused), fan-out, radii csv, elderly extra radius, caring radius,
--       oldest fresh fix ms, offer timeout ms, max offers, max age ms, retry ms
-- Returns {'empty'} or {outcome, order id, ...}.
local top = redis.call('ZRANGE', K.pending, 0, 0)
if #top == 0 then return {'empty'} end
local id = top[1]
redis.call('ZREM', K.pending, id)
local ok = okey(id)
local o = redis.call('HMGET', ok, 'status', 'p_lat', 'p_lon', 'needs', 'reason', 'offers', 'release_ms', 'phone')
if o[1] ~= 'pending' then return {'gone', id} end
local offers = tonumber(o[6]) or 0
if offers >= tonumber(ARGV[10]) or NOW - tonumber(o[7]) >= tonumber(ARGV[11]) then
  redis.call('HSET', ok, 'status', 'unfulfilled', 'updated', NOW, 'ended_ms', NOW)
  redis.call('ZADD', K.callbacks, NOW, id)
  redis.call('ZREM', P .. 'caller:' .. o[8] .. ':active', id)
  redis.call('HINCRBY', K.stats, 'unfulfilled', 1)
  redis.call('XADD', K.events, '*', 'type', 'order_unfulfilled', 'order', id, 'from', 'pending',
    'to', 'unfulfilled', 'ts', NOW)
  return {'unfulfilled', id}
end
local fan = tonumber(ARGV[4])
local wheelchair = string.find(',' .. (o[4] or '') .. ',', ',wheelchair,', 1, true) ~= nil
local elderly = o[5] and o[5] ~= ''
local fresh = tonumber(ARGV[8])
local tried = tried_key(id)
local picked, seen = {}, {}
local function scan(radius, caring_only)
  local hits = redis.call('GEOSEARCH', K.free, 'FROMLONLAT', o[3], o[2], 'BYRADIUS', radius, 'm',
    'ASC', 'COUNT', 64, 'WITHDIST')
  if #hits == 0 then return end
  local ids = {}
  for i, h in ipairs(hits) do ids[i] = h[1] end
  local fixes = redis.call('ZMSCORE', K.fixes, unpack(ids))
  local was_tried = redis.call('SMISMEMBER', tried, unpack(ids))
  local accessible = wheelchair and redis.call('SMISMEMBER', K.wheelchair, unpack(ids))
  local in_caring = caring_only and redis.call('SMISMEMBER', K.caring, unpack(ids))
  for i, h in ipairs(hits) do
    if #picked >= fan then return end
    local t = h[1]
    if not seen[t] and fixes[i] and tonumber(fixes[i]) >= fresh and was_tried[i] == 0
      and (not wheelchair or accessible[i] == 1) and (not caring_only or in_caring[i] == 1)
      and redis.call('HGET', K.states, t) == 'free' and redis.call('HEXISTS', K.torders, t) == 0 then
      seen[t] = true
      picked[#picked + 1] = {t, h[2]}
    end
  end
end
local caring_radius = tonumber(ARGV[7])
if elderly and caring_radius > 0 then scan(caring_radius, true) end
local radii = split(ARGV[5])
if elderly and tonumber(ARGV[6]) > 0 then radii[#radii + 1] = ARGV[6] end
for _, r in ipairs(radii) do
  if #picked >= fan then break end
  scan(r, false)
end
if #picked == 0 then
  -- Retries fall on a shared clock (multiples of the interval), so orders waiting for a
  -- taxi come back together and the queue's priority order decides who gets it.
  local every = tonumber(ARGV[12])
  redis.call('ZADD', K.retry, (math.floor(NOW / every) + 1) * every, id)
  redis.call('HSET', ok, 'updated', NOW)
  return {'retry', id}
end
local deadline = NOW + tonumber(ARGV[9])
local holders, out = {}, {'offered', id, tostring(deadline)}
for _, p in ipairs(picked) do
  local t = p[1]
  redis.call('HSET', K.states, t, 'offered')
  redis.call('HSET', K.torders, t, id)
  leave_free(t)
  redis.call('ZADD', K.offers, deadline, id .. '|' .. t)
  holders[#holders + 1] = t
  out[#out + 1] = t
  out[#out + 1] = p[2]
  redis.call('XADD', K.events, '*', 'type', 'offer_made', 'order', id, 'taxi', t, 'dist', p[2], 'ts', NOW)
end
redis.call('HSET', ok, 'status', 'offered', 'holders', table.concat(holders, ','), 'offers', offers + 1,
  'updated', NOW, 'offer_deadline', deadline)
redis.call('HINCRBY', K.stats, 'offers', #picked)
-- The notification carries the offer, so driver gateways need not read it back.
local f = redis.call('HMGET', ok, 'p_lat', 'p_lon', 'p_addr', 'd_lat', 'd_lon', 'd_addr', 'needs', 'notes',
  'pay', 'phone', 'pax', 'reason')
for _, p in ipairs(picked) do
  notify(p[1], 'offer', id, cjson.encode({
    p_lat = f[1], p_lon = f[2], p_addr = f[3], d_lat = f[4] or '', d_lon = f[5] or '', d_addr = f[6] or '',
    needs = f[7] or '', notes = f[8] or '', pay = f[9] or '', phone = f[10] or '', pax = f[11] or '1',
    elderly = f[12] or '', dist = p[2], deadline = deadline,
  }))
end
return out
