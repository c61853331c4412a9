#!lua
-- One pair of the batched matcher's solve (`taxi_domain::matching`), offered atomically if
-- it still holds. The solve read Redis a moment ago, and since then another dispatch
-- process, a driver or an operator may have moved, so everything the pair relied on is
-- checked again here: the order still waits for a taxi (queued, or waiting for its retry
-- tick) and is not due to be given up; the taxi is still FREE (in the free index) with a
-- fresh fix, holds nothing, has not declined or missed this order, and meets its needs
-- (wheelchair; the caring fleet while a recurring trip searches only it). Then the offer
-- is made exactly as `offer_order.lua` makes it (`lib.lua`'s `offer_to`). A stale solve
-- is harmless: its pair is refused, and the order waits for the next window. As in
-- `offer_order.lua`, a taxi that an order of the other kind (older passenger against
-- other) waiting ahead of this one can reach is not offered (older first at every moment,
-- and the aging bound): those orders go back to the queue, and the pair is refused as
-- taken. Within one kind the solve's cost has decided.
-- KEYS (after the city's): the order's hash, its tried set
-- ARGV (after NOW, FEED_MAX): order id, taxi id, distance m, oldest fresh fix ms, offer
--   timeout ms, max offers, max age ms
-- Reply: {kind = 'made', deadline} | {kind = 'gone'} (the order no longer waits) |
--   {kind = 'taken'} (the taxi no longer qualifies) | {kind = 'give_up', phone} (due to be
--   given up: `give_up.lua` does it, with the caller's keys)
local order_key, tried_key = own_keys()
local id, taxi, dist, fresh, timeout, max_offers, max_age = own_args()
local o = redis.call('HMGET', order_key, 'status', 'needs', 'offers', 'release_ms', 'phone',
  'round_ms', 'round_offers', 'caring_until', 'keep_until', 'qscore', 'reason')
local queued = redis.call('ZSCORE', K.pending, id)
if not may(ORDER.offer, o[1]) or not (queued or redis.call('ZSCORE', K.retry, id)) then
  return reply('gone', {})
end
if NOW >= (tonumber(o[9]) or 0) and gives_up({offers = o[3], release_ms = o[4], round_ms = o[6],
  round_offers = o[7]}, max_offers, max_age) then
  return reply('give_up', {phone = o[5] or ''})
end
local wheelchair = string.find(',' .. (o[2] or '') .. ',', ',wheelchair,', 1, true) ~= nil
local caring_only = NOW < (tonumber(o[8]) or 0)
local fix = redis.call('HGET', K.fixes, taxi)
if not (redis.call('ZSCORE', K.free, taxi) and fix and tonumber(fix) >= tonumber(fresh)
  and may(TAXI.offer, redis.call('HGET', K.states, taxi)) and redis.call('HEXISTS', K.torders, taxi) == 0
  and redis.call('SISMEMBER', tried_key, taxi) == 0
  and (not wheelchair or redis.call('SISMEMBER', K.wheelchair, taxi) == 1)
  and (not caring_only or redis.call('SISMEMBER', K.caring, taxi) == 1)) then
  return reply('taken', {})
end
local kind = (o[11] and o[11] ~= '') and 'e' or ''
local ahead = waiting_in_reach(taxi, redis.call('GEOPOS', K.free, taxi)[1], tonumber(o[10]) or NOW, id,
  kind)
if #ahead > 0 then
  bring_back(ahead, taxi)
  redis.call('HINCRBY', K.stats, 'yields', 1)
  return reply('taken', {})
end
redis.call('ZREM', K.pending, id)
forget_waiting(id)
local deadline = offer_to(id, order_key, {{id = taxi, dist = tonumber(dist)}}, tonumber(o[3]) or 0,
  timeout, o[1])
redis.call('HINCRBY', K.stats, 'batch_offers', 1)
return reply('made', {deadline = deadline})
