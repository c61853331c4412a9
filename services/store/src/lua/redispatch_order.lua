#!lua
-- An operator takes a stuck trip back from its taxi: the taxi is released or signed off
-- (the event the domain names for the stage, `taxi_domain::watchdog::Stage`), is told, and
-- is not offered this order again; the order goes back to the queue at its own score
-- (its priority is kept) for a new dispatch round: the offers and time of the round the
-- taxi failed do not count towards giving up.
-- KEYS (after the city's): the order's hash, its tried set
-- ARGV (after NOW, FEED_MAX): order id, operator id, reason, the taxi's event (TAXI.<code>)
--   for a trip stuck ACCEPTED, and for one stuck ARRIVED
-- Reply: {kind = 'done', from, taxi, state} | {kind = 'missing'} | {kind = 'refused', status}
local order_key, tried_key = own_keys()
local id, operator, why, if_accepted, if_arrived = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local o = redis.call('HMGET', order_key, 'status', 'taxi', 'offers', 'qscore')
local status, taxi = o[1], o[2] or ''
if not may(ORDER.redispatch, status) then return reply('refused', {status = status}) end
local event = TAXI[status == OS.accepted and if_accepted or if_arrived]
local state = ''
if taxi ~= '' and redis.call('HGET', K.torders, taxi) == id then
  redis.call('HDEL', K.torders, taxi)
  local st = redis.call('HGET', K.states, taxi)
  state = st or ''
  if may(event, st) then
    set_taxi_state(taxi, event.to)
    state = event.to
    audit(event.audit, 'taxi', taxi, 'order', id, 'from', st, 'to', event.to, 'reason', 'redispatched')
  end
  notify(taxi, NOTICE.withdrawn, id, 'redispatched by an operator: ' .. why)
  if state == TS.off then
    notify(taxi, NOTICE.signed_off, '', 'did not reach the pickup of order ' .. id)
  end
  redis.call('SADD', tried_key, taxi)
  redis.call('EXPIRE', tried_key, 86400)
end
unwatch(id)
redis.call('HSET', order_key, 'status', ORDER.redispatch.to, 'holders', '', 'round_ms', NOW,
  'round_offers', o[3] or 0, 'updated', NOW)
redis.call('HDEL', order_key, 'taxi', 'accepted_ms', 'arrived_ms', 'eta_s')
redis.call('HINCRBY', order_key, 'redispatched', 1)
audit(ORDER.redispatch.audit, 'order', id, 'taxi', taxi, 'from', status, 'to', ORDER.redispatch.to,
  'by', operator, 'reason', why)
-- The order no longer has a taxi: the KPI of orders that got one takes it back.
count(ORDER.accept.to, order_key, -1)
redis.call('ZADD', K.pending, o[4] or NOW, id)
wake(id)
return reply('done', {from = status, taxi = taxi, state = state})
