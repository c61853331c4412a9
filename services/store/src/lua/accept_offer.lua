#!lua
-- A driver accepts: the order gets this taxi, every other offer of it is withdrawn.
-- KEYS (after the city's): the order's hash, the taxi's hash
-- ARGV (after NOW, FEED_MAX): order id, taxi id, eta seconds, ms the taxi has to reach the
--   pickup before the watchdog flags the trip
-- Tells the passenger (and a booking relative) which taxi comes, through the outbox.
-- Reply: {kind = 'done', waited_ms, elderly} (the time to assign; absent on a retry) | {kind = 'missing'} | {kind = 'gone', status}
local order_key, taxi_key = own_keys()
local id, taxi, eta_s, arrive_within = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local status = redis.call('HGET', order_key, 'status')
-- A retry after a lost reply: this taxi already holds the order it accepted. Nothing to do.
if redis.call('HGET', order_key, 'taxi') == taxi and already(ORDER.accept, status) then
  return reply('done')
end
local member = id .. '|' .. taxi
if not redis.call('ZSCORE', K.offers, member) or not may(ORDER.accept, status)
  or redis.call('HGET', K.torders, taxi) ~= id or not may(TAXI.accept, redis.call('HGET', K.states, taxi)) then
  return reply('gone', {status = status})
end
redis.call('ZREM', K.offers, member)
withdraw_all(id, order_key, taxi, 'taken by another taxi', NOTICE.withdrawn)
redis.call('HSET', order_key, 'status', ORDER.accept.to, 'taxi', taxi, 'holders', taxi,
  'accepted_ms', NOW, 'eta_s', eta_s, 'updated', NOW)
set_taxi_state(taxi, TAXI.accept.to)
-- A reservation taken before its pickup time (a recurring trip is offered up to an hour
-- ahead) is due at the pickup, not now.
local due_from = math.max(NOW, tonumber(redis.call('HGET', order_key, 'pickup_ms')) or NOW)
redis.call('ZADD', K.watch, due_from + tonumber(arrive_within), id)
redis.call('HSET', K.missed, taxi, 0)
count(ORDER.accept.to, order_key)
local took = sample(ASSIGN, order_key, NOW - tonumber(redis.call('HGET', order_key, 'release_ms')))
audit(ORDER.accept.audit, 'order', id, 'taxi', taxi, 'from', status, 'to', ORDER.accept.to)
tell(MSG.assigned, order_key, id, taxi_facts(taxi_key, taxi, {eta_s = eta_s}))
return reply('done', took)
