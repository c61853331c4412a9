#!lua
-- The city family's shared library, loaded after the generated prelude and before each
-- script's body (its shebang line is dropped): offers released, taxis freed, orders
-- requeued and withdrawn are written once, here. Every key comes from K (the city's keys,
-- first in KEYS) or from the script's own KEYS; every state and rule from the prelude.

-- Whether `event` may happen in `state` (a status or state code, or nil).
local function may(event, state)
  if not state then return false end
  return string.find(event.from, ',' .. state .. ',', 1, true) ~= nil
end

-- Whether a driver's step `event` already happened in `status` (a retry after a lost reply).
local function already(event, status)
  if not status then return false end
  return string.find(event.done, ',' .. status .. ',', 1, true) ~= nil
end

-- Appends a record to the audit trail.
local function audit(kind, ...)
  redis.call('XADD', K.events, '*', 'type', kind, 'ts', NOW, ...)
end

-- Counts the order at `order_key` reaching `status` (the KPI counters): all orders, and
-- older passengers' again under `n:<status>:e` (an elderly reason is set), so the KPIs
-- compare older passengers with the others.
local function count(status, order_key, by)
  redis.call('HINCRBY', K.stats, 'n:' .. status, by or 1)
  local reason = redis.call('HGET', order_key, 'reason')
  if reason and reason ~= '' then
    redis.call('HINCRBY', K.stats, 'n:' .. status .. ':e', by or 1)
  end
end

-- Tells driver streams: one JSON notice appended to the city's driver feed, in the same
-- atomic step; its stream id is the notice's sequence id.
local function notify(taxi, kind, order, reason, offer)
  redis.call('XADD', K.feed, 'MAXLEN', '~', FEED_MAX, '*', 'taxi', taxi, 'n',
    cjson.encode({taxi = taxi, kind = kind, order = order or '', reason = reason or '',
      offer = offer}))
end

-- The notifications outbox (`K.outbox`): tells the passenger (by the channel they chose,
-- copied onto the order when it was made) and, for a relative's booking, the relative, one
-- entry each, in the same step as the transition it tells: an acknowledged transition never
-- loses its message. `f` holds the facts the text needs (taxi, plate, color, eta_s, fare).
local function tell(kind, order_key, id, f)
  f = f or {}
  local o = redis.call('HMGET', order_key, 'phone', 'nch', 'n_rel', 'name', 'p_addr')
  local function add(to, role, ch)
    redis.call('XADD', K.outbox, '*', 'kind', kind, 'to', to, 'role', role, 'ch', ch,
      'order', id, 'name', o[4] or '', 'addr', o[5] or '', 'taxi', f.taxi or '',
      'plate', f.plate or '', 'color', f.color or '', 'eta_s', f.eta_s or '',
      'fare', f.fare or '', 'ts', NOW)
  end
  if o[1] and o[1] ~= '' then add(o[1], RCPT.passenger, o[2] or NCH.sms) end
  if o[3] and o[3] ~= '' and o[3] ~= o[1] then add(o[3], RCPT.relative, NCH.sms) end
end

-- What a message about a taxi says of it: its id, plate and colour, and `more`.
local function taxi_facts(taxi_key, taxi, more)
  local t = redis.call('HMGET', taxi_key, 'plate', 'color')
  local f = more or {}
  f.taxi, f.plate, f.color = taxi, t[1] or '', t[2] or ''
  return f
end

-- Wakes a blocked dispatch worker; the token is the order id, a hint of the queue's head.
local function wake(order)
  redis.call('LPUSH', K.wakeup, order)
  redis.call('LTRIM', K.wakeup, 0, 999)
end

local function split(csv)
  local out = {}
  for item in string.gmatch(csv or '', '[^,]+') do out[#out + 1] = item end
  return out
end

local function without(csv, item)
  local out = {}
  for _, x in ipairs(split(csv)) do if x ~= item then out[#out + 1] = x end end
  return table.concat(out, ',')
end

-- Takes a taxi out of the stand queue it is in, if any (it left FREE, or was swept stale).
local function leave_stand(taxi)
  local member = redis.call('HGET', K.stand_of, taxi)
  if member then
    redis.call('HDEL', K.stand_of, taxi)
    redis.call('ZREM', K.stand_q, member)
  end
  return member
end

-- Sets a taxi's state. Its last position lives in exactly one geo set: `K.free` while
-- it is FREE (and fresh), `K.pos` otherwise; moving it is part of every state change.
-- While it is in `K.free`, it is also in `K.free_fix` (by fix time: what the janitor
-- scans) and in the index of each capability it has (`K.free_wc`, `K.free_caring`: what
-- needs are matched over), so those move with it.
-- The per-state counts move with it, so KPIs never read every taxi. A taxi leaving FREE
-- leaves its stand queue.
-- Orders waiting for a taxi (nothing was in reach at their last attempt) sit in `K.retry`
-- by their next attempt, `K.waiting` by queue score, `K.waiting_at` by pickup and
-- `K.waiting_info` with what a taxi must be and how near ("older first at every moment",
-- issue 15): a taxi that comes free, or that an order behind them would get, is theirs
-- first if it is in their reach (`waiting_in_reach`, `bring_back`).
local function wait_for_taxi(id, due, qscore, lon, lat, info)
  redis.call('ZADD', K.retry, due, id)
  redis.call('ZADD', K.waiting, qscore, id)
  redis.call('GEOADD', K.waiting_at, lon, lat, id)
  redis.call('HSET', K.waiting_info, id, info)
end

-- An order stops waiting (back to the queue, or out of dispatch).
local function unwait(id)
  redis.call('ZREM', K.retry, id)
  redis.call('ZREM', K.waiting, id)
  redis.call('ZREM', K.waiting_at, id)
  redis.call('HDEL', K.waiting_info, id)
end

-- An order leaves dispatch (offered, assigned, cancelled, given up): nothing of its
-- waiting is kept, not even the taxi it was last brought back for or ceded.
local function forget_waiting(id)
  unwait(id)
  redis.call('HDEL', K.waiting_info, id .. '|ceded', id .. '|back')
end

-- The waiting orders ahead of queue score `below` (all of them: nil) that taxi `t`, at
-- `at` ({lon, lat}), can serve by their own search's rules: within their reach (their
-- widest ring), accessible if they need a wheelchair, in
-- the caring fleet while their search is caring-fleet only; and not having ceded `t` (it
-- was brought back for `t` once already, and `t` had declined or missed it: such an order
-- skips `t`, and bringing it back for `t` again would go on for ever; see `bring_back`).
-- Best first (nearest first among the 64 nearest). `below_id` breaks a tie of scores as
-- the queue does (by id). With `kind` ('e' for an older passenger's order,
-- '' for another), only the orders of the other kind: the batched matcher keeps queue
-- order between older passengers and others, and lets its cost choose within a kind.
local function waiting_in_reach(t, at, below, below_id, kind)
  local reach = tonumber(redis.call('HGET', K.stats, 'waiting_reach_m'))
  if not reach or redis.call('ZCARD', K.waiting) == 0 then return {} end
  local hits = redis.call('GEOSEARCH', K.waiting_at, 'FROMLONLAT', at[1], at[2], 'BYRADIUS', reach, 'm',
    'ASC', 'COUNT', 64, 'WITHDIST')
  if #hits == 0 then return {} end
  local ids, ceded_of = {}, {}
  for i, h in ipairs(hits) do ids[i] = h[1]; ceded_of[i] = h[1] .. '|ceded' end
  local scores = mcall('ZMSCORE', K.waiting, ids)
  local infos = mcall('HMGET', K.waiting_info, ids)
  local ceded = mcall('HMGET', K.waiting_info, ceded_of)
  local caring_t = redis.call('SISMEMBER', K.caring, t) == 1
  local wc_t = redis.call('SISMEMBER', K.wheelchair, t) == 1
  local out = {}
  for i, h in ipairs(hits) do
    local w, s = h[1], scores[i] and tonumber(scores[i])
    if s and infos[i] and ceded[i] ~= t and (not below or s < below or (s == below and w < below_id)) then
      local e, wc, cu, r, extra, opens = string.match(infos[i], '^(e?)|(w?)|(%d*)|(%d+)|?(%d*)|?(%d*)$')
      local caring_only = NOW < (tonumber(cu) or 0)
      local within = tonumber(r)
      -- An older passenger's extra radius, once it has opened.
      if within and tonumber(extra) and NOW >= (tonumber(opens) or math.huge) then
        within = math.max(within, tonumber(extra))
      end
      -- Two metres short of the bound: the order's own search measures from its stored
      -- pickup, this from the index's (a geohash, a fraction of a metre off).
      if within and tonumber(h[2]) + 2 <= within and (wc ~= 'w' or wc_t) and (not caring_only or caring_t)
        and (kind == nil or e ~= kind) then
        out[#out + 1] = {id = w, score = s}
      end
    end
  end
  table.sort(out, function(a, b) return a.score < b.score or (a.score == b.score and a.id < b.id) end)
  return out
end

-- Waiting orders back to the queue at their own scores (woken at once), each marked as
-- brought back for taxi `t`. Its next attempt (`offer_order.lua`) turns the mark into
-- "ceded `t`" only if `t` had already had its chance with it (in its tried set): that
-- order skips `t`, so it must not be brought back for `t` again. A taxi that went to an
-- order ahead before this one's turn (and then declined it, say) gave it no chance, and
-- it is brought back for that taxi again (issue 15: the sim found ordinary orders passed
-- over for good this way, and older orders booked minutes later served by the taxi at
-- their door).
local function bring_back(list, t)
  for _, w in ipairs(list) do
    unwait(w.id)
    redis.call('HSET', K.waiting_info, w.id .. '|back', t)
    redis.call('ZADD', K.pending, w.score, w.id)
  end
  if #list > 0 then wake(list[1].id) end
end

local function set_taxi_state(taxi, state)
  local old = redis.call('HGET', K.states, taxi)
  redis.call('HSET', K.states, taxi, state)
  if old ~= state then
    if old then redis.call('HINCRBY', K.state_n, old, -1) end
    redis.call('HINCRBY', K.state_n, state, 1)
  end
  if state == TS.free then
    local p = redis.call('GEOPOS', K.pos, taxi)[1]
    if p then
      -- A taxi that comes free goes first to the orders waiting with it in their reach, in
      -- queue order, at once rather than at their next retry.
      if old ~= state then bring_back(waiting_in_reach(taxi, p), taxi) end
      redis.call('GEOADD', K.free, p[1], p[2], taxi)
      redis.call('ZREM', K.pos, taxi)
      redis.call('ZADD', K.free_fix, redis.call('HGET', K.fixes, taxi) or 0, taxi)
      if redis.call('SISMEMBER', K.wheelchair, taxi) == 1 then
        redis.call('GEOADD', K.free_wc, p[1], p[2], taxi)
      end
      if redis.call('SISMEMBER', K.caring, taxi) == 1 then
        redis.call('GEOADD', K.free_caring, p[1], p[2], taxi)
      end
    end
  else
    -- A taxi that is not FREE queues at no stand (`taxi_domain::stands::queue_step`).
    leave_stand(taxi)
    local p = redis.call('GEOPOS', K.free, taxi)[1]
    if p then
      redis.call('GEOADD', K.pos, p[1], p[2], taxi)
      redis.call('ZREM', K.free, taxi)
      redis.call('ZREM', K.free_fix, taxi)
      redis.call('ZREM', K.free_wc, taxi)
      redis.call('ZREM', K.free_caring, taxi)
    end
  end
end

-- How long of [since, NOW] dispatch could not reach Redis (`K.outages` never overlap).
local function paused_since(since)
  local total = 0
  for _, m in ipairs(redis.call('ZRANGE', K.outages, string.format('(%d', since), '+inf', 'BYSCORE')) do
    local s, e = string.match(m, '^(%d+):(%d+)$')
    s, e = math.max(tonumber(s), since), math.min(tonumber(e), NOW)
    if e > s then total = total + (e - s) end
  end
  return total
end

-- Whether dispatch gives up on a queued order (`taxi_domain::outage::gives_up`): offered
-- `max_offers` times in this dispatch round, or in it for `max_age` ms not counting
-- outages. `o` holds the order's offers, release_ms, round_ms, round_offers. The outages
-- are read only for an order that would give up without them (so never on the hot path).
local function gives_up(o, max_offers, max_age)
  local offers = (tonumber(o.offers) or 0) - (tonumber(o.round_offers) or 0)
  if offers >= tonumber(max_offers) then return true end
  local since = tonumber(o.round_ms or o.release_ms)
  local waited = NOW - since
  if waited < tonumber(max_age) then return false end
  return waited - paused_since(since) >= tonumber(max_age)
end

-- Takes an order off the watchdog's index and its operators' list (it moved on).
local function unwatch(order)
  redis.call('ZREM', K.watch, order)
  redis.call('ZREM', K.stuck, order)
end

-- Records a latency sample in the older passengers' or the others' list, and returns it
-- as reply fields ({waited_ms, elderly}) so the caller can record it as a metric too.
local function sample(lists, order_key, value)
  local reason = redis.call('HGET', order_key, 'reason')
  local list = lists.o
  local elderly = reason and reason ~= ''
  if elderly then list = lists.e end
  redis.call('LPUSH', list, value)
  redis.call('LTRIM', list, 0, 9999)
  return {waited_ms = value, elderly = elderly and true or false}
end
local ASSIGN = {e = K.assign_e, o = K.assign_o}
local PICKUP = {e = K.pickup_e, o = K.pickup_o}

-- Back to the queue at the order's own score (its priority and age are kept).
local function requeue(order, order_key)
  redis.call('HSET', order_key, 'status', ORDER.requeue.to, 'updated', NOW)
  redis.call('ZADD', K.pending, redis.call('HGET', order_key, 'qscore') or NOW, order)
  audit(ORDER.requeue.audit, 'order', order, 'from', OS.offered, 'to', ORDER.requeue.to)
  wake(order)
end

-- Ends one taxi's offer of an order: `event` is TAXI.decline or TAXI.miss_offer. The order
-- goes back to the queue when no taxi holds an offer of it any more; a taxi that missed
-- `max_missed` offers in a row is signed off. False if the offer was not open.
local function release_offer(order, order_key, tried_key, taxi, event, reason, max_missed)
  local member = order .. '|' .. taxi
  if not redis.call('ZSCORE', K.offers, member) then return false end
  redis.call('ZREM', K.offers, member)
  if redis.call('HGET', K.torders, taxi) == order then
    redis.call('HDEL', K.torders, taxi)
    if may(event, redis.call('HGET', K.states, taxi)) then set_taxi_state(taxi, event.to) end
  end
  redis.call('SADD', tried_key, taxi)
  redis.call('EXPIRE', tried_key, 86400)
  local holders = without(redis.call('HGET', order_key, 'holders'), taxi)
  redis.call('HSET', order_key, 'holders', holders)
  notify(taxi, NOTICE.withdrawn, order, reason)
  audit(event.audit, 'order', order, 'taxi', taxi)
  if event == TAXI.miss_offer then
    local missed = redis.call('HINCRBY', K.missed, taxi, 1)
    local st = redis.call('HGET', K.states, taxi)
    if missed >= max_missed and may(TAXI.sign_off, st) and st ~= TAXI.sign_off.to then
      set_taxi_state(taxi, TAXI.sign_off.to)
      redis.call('HSET', K.missed, taxi, 0)
      notify(taxi, NOTICE.signed_off, '', 'missed ' .. missed .. ' offers in a row')
      audit(TAXI.sign_off.audit, 'taxi', taxi, 'from', st, 'to', TAXI.sign_off.to,
        'reason', 'missed_offers')
    end
  else
    redis.call('HSET', K.missed, taxi, 0)
  end
  if holders == '' and may(ORDER.requeue, redis.call('HGET', order_key, 'status')) then
    requeue(order, order_key)
  end
  return true
end

-- Takes every offer (or the assignment) of an order back from the taxis holding it but
-- `except`: another taxi won, an operator assigned, the order was cancelled.
local function withdraw_all(order, order_key, except, reason, notice)
  for _, h in ipairs(split(redis.call('HGET', order_key, 'holders'))) do
    if h ~= except then
      redis.call('ZREM', K.offers, order .. '|' .. h)
      if redis.call('HGET', K.torders, h) == order then
        redis.call('HDEL', K.torders, h)
        local st = redis.call('HGET', K.states, h)
        if may(TAXI.release, st) then set_taxi_state(h, TAXI.release.to) end
        audit(TAXI.release.audit, 'order', order, 'taxi', h, 'from', st or '', 'to', TAXI.release.to,
          'reason', reason)
      end
      notify(h, notice, order, reason)
    end
  end
end

-- Offers order `id` (its hash `order_key`, offered `offers` times before, in status
-- `from`) to the taxis `picked` (`{id, dist}` each) until NOW + `timeout` ms: each taxi
-- claimed, OFFERED, its offer in `K.offers` by deadline, audited and told (the notice
-- carries the offer); then the order OFFERED with its holders. The one way an offer is
-- made, whether greedy (`offer_order.lua`) or batched (`offer_pair.lua`) found the taxi.
-- Returns the deadline.
local function offer_to(id, order_key, picked, offers, timeout, from)
  local deadline = NOW + tonumber(timeout)
  local holders = {}
  for _, p in ipairs(picked) do
    redis.call('HSET', K.torders, p.id, id)
    set_taxi_state(p.id, TAXI.offer.to)
    redis.call('ZADD', K.offers, deadline, id .. '|' .. p.id)
    holders[#holders + 1] = p.id
    audit(TAXI.offer.audit, 'order', id, 'taxi', p.id, 'dist', p.dist, 'from', from, 'to', ORDER.offer.to)
  end
  redis.call('HSET', order_key, 'status', ORDER.offer.to, 'holders', table.concat(holders, ','),
    'offers', offers + 1, 'updated', NOW, 'offer_deadline', deadline)
  redis.call('HINCRBY', K.stats, 'offers', #picked)
  -- The notice carries the offer, so driver gateways need not read it back.
  local f = redis.call('HMGET', order_key, 'p_lat', 'p_lon', 'p_addr', 'd_lat', 'd_lon', 'd_addr', 'needs',
    'notes', 'pay', 'phone', 'pax', 'reason')
  for _, p in ipairs(picked) do
    notify(p.id, NOTICE.offer, id, '', {
      p_lat = f[1], p_lon = f[2], p_addr = f[3], d_lat = f[4] or '', d_lon = f[5] or '', d_addr = f[6] or '',
      needs = f[7] or '', notes = f[8] or '', pay = f[9] or '', phone = f[10] or '', pax = f[11] or '1',
      elderly = f[12] or '', dist = p.dist, deadline = deadline,
    })
  end
  return deadline
end
