#!lua
-- Dispatch attempts for the orders at the head of the queue, in queue order, atomically:
-- no worker ever holds an order outside Redis, so a worker that dies loses nothing, and
-- orders are attempted strictly in queue order. The caller names the heads it expects, in
-- order (each one's keys declared); the script attempts them one by one while each is
-- still the head, and stops at the first that is not (or when the queue is empty). One
-- call for several orders: a burst of bookings costs one round trip and one AOF fsync per
-- batch, not per order.
-- An order too old (outages not counted) or offered too often ends the batch with a
-- give-up (`give_up.lua` does it, with the caller's keys); a recurring trip is never given
-- up before its pickup. Otherwise a recurring trip goes first to its confirmed paired taxi,
-- an order picked up at a stand to the head of that stand's queue; then search free taxis
-- near the pickup (caring fleet first for older passengers, and only the caring fleet for
-- a recurring trip until `caring_until`; then radius by radius; a wheelchair need searches
-- only the accessible taxis' index, the caring ring only the caring fleet's), skipping
-- stale fixes and taxis that had their chance, and offer it to the nearest (or the N
-- nearest in broadcast mode). Nothing in reach: the order waits, and is tried again at the
-- next retry tick or as soon as a taxi in its reach comes free (`lib.lua`'s waiting).
-- Older first at every moment (issue 15): a taxi picked for this order that a waiting order
-- ahead of it in the queue can reach goes to that order instead. This order then yields:
-- it goes back to the queue, and the waiting orders that can reach one of its picks go back
-- ahead of it (each once for that taxi), so the queue's order decides. A recurring trip's
-- confirmed paired taxi is never taken from it this way.
-- KEYS (after the city's): for each expected order, its hash and its tried set
-- ARGV (after NOW, FEED_MAX): how many heads to name in the reply, fan-out, radii csv,
--   elderly extra radius, ms an older passenger's order waits before it opens, caring
--   radius, oldest fresh fix ms, offer timeout ms, max offers,
--   max age ms, retry ms, then the expected order ids in queue order
-- Reply: {kind = 'batch', results = [outcome], next = [the queue's first ids]} where an
--   outcome is {kind = 'made', order, deadline, taxis = [{id, dist}]} | {kind = 'retry',
--   order} | {kind = 'gone', order} | {kind = 'yield', order, to = [orders brought back]}
--   | {kind = 'give_up', order, phone} (last; `next` is
--   then left out). No results: the queue was empty, or its head was not the first
--   expected (`next` names the heads to expect). Empty lists are left out.
local own = {own_keys()}
local want, fan, radii_csv, extra_radius, extra_after, caring_radius, fresh, timeout, max_offers,
  max_age, retry_ms = own_args()
local expected = {select(12, own_args())}
fan = tonumber(fan)
fresh = tonumber(fresh)
local radii_base = split(radii_csv)
-- The farthest the rings reach (without the elderly extra radius), for an order that waits.
local ring_max = 0
for _, r in ipairs(radii_base) do ring_max = math.max(ring_max, tonumber(r)) end
-- One attempt for `id`, known to be the head of the queue.
local function attempt(id, order_key, tried_key)
  -- Issue 14's fields, written when the order was made: `stand`, the stand its pickup is
  -- at; for a recurring trip of the caring fleet's guarantee, `pref_taxi` (the paired taxi
  -- that confirmed it), `caring_until` (the end of the caring-fleet-only search) and
  -- `keep_until` (its pickup: never given up before).
  local o = redis.call('HMGET', order_key, 'status', 'p_lat', 'p_lon', 'needs', 'reason', 'offers',
    'release_ms', 'phone', 'round_ms', 'round_offers', 'stand', 'pref_taxi', 'caring_until', 'keep_until',
    'qscore')
  if not may(ORDER.offer, o[1]) then
    redis.call('ZREM', K.pending, id)
    return {kind = 'gone', order = id}
  end
  local offers = tonumber(o[6]) or 0
  local caring_only = NOW < (tonumber(o[13]) or 0)
  if NOW >= (tonumber(o[14]) or 0) and gives_up({offers = o[6], release_ms = o[7], round_ms = o[9], round_offers = o[10]}, max_offers, max_age) then
    return {kind = 'give_up', order = id, phone = o[8]}
  end
  redis.call('ZREM', K.pending, id)
  -- Brought back for a taxi (`lib.lua`'s `bring_back`): if that taxi had its chance with
  -- this order already (declined or missed it), this attempt skips it, and the order is not
  -- brought back for it again (it ceded it); otherwise it may be, whenever that taxi comes
  -- free or is picked by an order behind this one.
  local back = redis.call('HGET', K.waiting_info, id .. '|back')
  if back then
    redis.call('HDEL', K.waiting_info, id .. '|back')
    if redis.call('SISMEMBER', tried_key, back) == 1 then
      redis.call('HSET', K.waiting_info, id .. '|ceded', back)
    end
  end
  local wheelchair = string.find(',' .. (o[4] or '') .. ',', ',wheelchair,', 1, true) ~= nil
  local elderly = o[5] and o[5] ~= ''
  -- An older passenger's order reaches the extra radius only once it has waited
  -- `extra_after` in dispatch: a taxi that far is long in coming, and a nearer one usually
  -- comes free sooner (issue 15).
  local extended = elderly and tonumber(extra_radius) > 0
    and NOW - (tonumber(o[7]) or NOW) >= tonumber(extra_after)
  local picked, seen = {}, {}
  -- One ring: the nearest free taxis in `index` (the free index, or a capability index, so
  -- ordinary taxis never crowd capable ones out of a page), filtered by fix age, tried,
  -- state and what `index` does not already say (`also`: a set the taxi must be in). A
  -- full page that yields too few looks again with a larger page, up to SCAN_MAX.
  local SCAN_MAX = 4096
  local function scan(radius, index, also)
    local count = 64
    while true do
      local hits = redis.call('GEOSEARCH', index, 'FROMLONLAT', o[3], o[2], 'BYRADIUS', radius, 'm',
        'ASC', 'COUNT', count, 'WITHDIST')
      if #hits == 0 then return end
      local ids = {}
      for i, h in ipairs(hits) do ids[i] = h[1] end
      local fixes = mcall('HMGET', K.fixes, ids)
      local was_tried = mcall('SMISMEMBER', tried_key, ids)
      local within = also and mcall('SMISMEMBER', also, ids)
      for i, h in ipairs(hits) do
        if #picked >= fan then return end
        local t = h[1]
        if not seen[t] and fixes[i] and tonumber(fixes[i]) >= fresh and was_tried[i] == 0
          and (not also or within[i] == 1)
          and may(TAXI.offer, redis.call('HGET', K.states, t)) and redis.call('HEXISTS', K.torders, t) == 0 then
          seen[t] = true
          picked[#picked + 1] = {id = t, dist = tonumber(h[2])}
        end
      end
      if #picked >= fan or #hits < count or count >= SCAN_MAX then return end
      count = math.min(count * 8, SCAN_MAX)
    end
  end
  -- Before the rings (issue 14): a recurring trip's confirmed paired taxi; else, for an
  -- order picked up at a stand, the first taxi of that stand's queue that qualifies. A
  -- taxi qualifies if it is free with a fresh fix, not yet tried, holds nothing, meets a
  -- wheelchair need and, while the search is caring-fleet only, is in the caring fleet.
  -- Its distance is the great circle as GEOSEARCH measures it (Redis' earth radius).
  local function qualifies(t)
    local fix = redis.call('HGET', K.fixes, t)
    local at = redis.call('GEOPOS', K.free, t)[1]
    if at and fix and tonumber(fix) >= fresh and redis.call('SISMEMBER', tried_key, t) == 0
      and may(TAXI.offer, redis.call('HGET', K.states, t)) and redis.call('HEXISTS', K.torders, t) == 0
      and (not wheelchair or redis.call('SISMEMBER', K.wheelchair, t) == 1)
      and (not caring_only or redis.call('SISMEMBER', K.caring, t) == 1) then
      local rad, lon, lat = math.rad, tonumber(at[1]), tonumber(at[2])
      local dlat, dlon = rad(lat - tonumber(o[2])), rad(lon - tonumber(o[3]))
      local h = math.sin(dlat / 2) ^ 2 + math.cos(rad(lat)) * math.cos(rad(tonumber(o[2]))) * math.sin(dlon / 2) ^ 2
      seen[t] = true
      picked[1] = {id = t, dist = 2 * 6372797.560856 * math.asin(math.sqrt(h))}
      return true
    end
    return false
  end
  local paired = o[12] and o[12] ~= '' and qualifies(o[12])
  local from_stand = false
  if #picked == 0 and o[11] and o[11] ~= '' then
    local queue = redis.call('ZRANGE', K.stand_q, '[' .. o[11] .. '|', '(' .. o[11] .. '}', 'BYLEX',
      'LIMIT', 0, 16)
    for _, m in ipairs(queue) do
      local t = string.match(m, '|([^|]+)$')
      -- A member its taxi no longer names (left after the last AOF rewrite, before a
      -- restart: joins are not in the AOF) is an orphan: dropped, never offered.
      if redis.call('HGET', K.stand_of, t) ~= m then
        redis.call('ZREM', K.stand_q, m)
      elseif qualifies(t) then
        from_stand = true
        break
      end
    end
  end
  -- A wheelchair need searches only accessible taxis; the caring ring only the caring
  -- fleet (and, with a wheelchair need too, the accessible ones among it). Until
  -- `caring_until`, only the caring fleet, at every radius.
  local ring_index = K.free
  if wheelchair then ring_index = K.free_wc end
  local caring_radius, radii_base = caring_radius, radii_base
  if caring_only then
    local radii = split(radii_csv)
    if extended then radii[#radii + 1] = extra_radius end
    for _, r in ipairs(radii) do
      if #picked >= fan then break end
      if wheelchair then scan(r, K.free_wc, K.caring) else scan(r, K.free_caring) end
    end
    caring_radius, radii_base, extended = '0', {}, false
  end
  local radii = {}
  for i, r in ipairs(radii_base) do radii[i] = r end
  if extended then radii[#radii + 1] = extra_radius end
  -- For an older passenger the caring fleet comes first within each ring, up to the caring
  -- radius: preferring it never sends a taxi more than a ring farther than the nearest one
  -- (issue 15: one caring ring of 3 km searched before every other taxi doubled older
  -- passengers' time to pickup).
  local caring_done = 0
  for _, r in ipairs(radii) do
    if #picked >= fan then break end
    local cr = math.min(tonumber(r), tonumber(caring_radius))
    if elderly and cr > caring_done then
      if wheelchair then scan(cr, K.free_wc, K.caring) else scan(cr, K.free_caring) end
      caring_done = cr
    end
    if #picked < fan then scan(r, ring_index) end
  end
  local qscore = tonumber(o[15]) or NOW
  if #picked == 0 then
    -- Retries fall on a shared clock (multiples of the interval), so orders waiting for a
    -- taxi come back together and the queue's priority order decides who gets it. What a
    -- taxi must be to serve it, and how near, is kept with it (`waiting_in_reach`).
    local every = tonumber(retry_ms)
    local reach = ring_max
    if extended then reach = math.max(reach, tonumber(extra_radius)) end
    local info = (elderly and 'e' or '') .. '|' .. (wheelchair and 'w' or '') .. '|' .. (o[13] or '') .. '|' .. reach
    local widest = reach
    -- An older passenger's extra radius not open yet: kept with the time it opens, so a
    -- taxi in it is hers from that moment, not only from her next attempt (issue 15: the
    -- sim found an ordinary order taking a taxi 6.5 km from her two seconds after it opened).
    if elderly and not extended and tonumber(extra_radius) > reach then
      info = info .. '|' .. extra_radius .. '|' .. ((tonumber(o[7]) or NOW) + tonumber(extra_after))
      widest = tonumber(extra_radius)
    end
    wait_for_taxi(id, (math.floor(NOW / every) + 1) * every, qscore, o[3], o[2], info)
    if (tonumber(redis.call('HGET', K.stats, 'waiting_reach_m')) or 0) < widest then
      redis.call('HSET', K.stats, 'waiting_reach_m', widest)
    end
    redis.call('HSET', order_key, 'updated', NOW)
    return {kind = 'retry', order = id}
  end
  if not paired then
    local ahead, seen_ahead = {}, {}
    for _, p in ipairs(picked) do
      local at = redis.call('GEOPOS', K.free, p.id)[1]
      if at then
        local these = waiting_in_reach(p.id, at, qscore, id)
        for _, w in ipairs(these) do
          if not seen_ahead[w.id] then seen_ahead[w.id] = true; ahead[#ahead + 1] = w end
        end
        -- Each brought back for the first taxi it can reach.
        bring_back(these, p.id)
      end
    end
    if #ahead > 0 then
      redis.call('ZADD', K.pending, qscore, id)
      local to = {}
      for i, w in ipairs(ahead) do to[i] = w.id end
      redis.call('HINCRBY', K.stats, 'yields', 1)
      return {kind = 'yield', order = id, to = to}
    end
  end
  if from_stand then redis.call('HINCRBY', K.stats, 'stand_offers', 1) end
  forget_waiting(id)
  local deadline = offer_to(id, order_key, picked, offers, timeout, o[1])
  return {kind = 'made', order = id, deadline = deadline, taxis = picked}
end
local results = {}
for i, id in ipairs(expected) do
  local top = redis.call('ZRANGE', K.pending, 0, 0)
  if top[1] ~= id then break end
  local r = attempt(id, own[2 * i - 1], own[2 * i])
  results[#results + 1] = r
  if r.kind == 'give_up' then
    return reply('batch', {results = results})
  end
end
local heads = redis.call('ZRANGE', K.pending, 0, tonumber(want) - 1)
return reply('batch', {results = #results > 0 and results or nil, next = #heads > 0 and heads or nil})
