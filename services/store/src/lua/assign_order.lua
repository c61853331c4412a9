#!lua
-- An operator assigns a chosen free taxi by hand, atomically like any other claim; open
-- offers of the order are withdrawn in the same step.
-- KEYS (after the city's): the order's hash, the taxi's hash
-- ARGV (after NOW, FEED_MAX): order id, taxi id, eta seconds, operator id, ms the taxi has to
--   reach the pickup before the watchdog flags the trip
-- Tells the passenger (and a booking relative) which taxi comes, through the outbox.
-- Reply: {kind = 'done', waited_ms?, elderly?} (the time to assign) | {kind = 'missing'} | {kind = 'refused', status}
--      | {kind = 'no_taxi'} | {kind = 'taxi_busy', state}
local order_key, taxi_key = own_keys()
local id, taxi, eta_s, operator, arrive_within = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local status = redis.call('HGET', order_key, 'status')
if not may(ORDER.manual_assign, status) then return reply('refused', {status = status}) end
local tst = redis.call('HGET', K.states, taxi)
if not tst then return reply('no_taxi') end
if not may(TAXI.manual_assign, tst) or redis.call('HEXISTS', K.torders, taxi) == 1 then
  return reply('taxi_busy', {state = tst})
end
withdraw_all(id, order_key, '', 'assigned by an operator', NOTICE.withdrawn)
for _, key in ipairs({K.pending, K.scheduled}) do redis.call('ZREM', key, id) end
forget_waiting(id)
redis.call('HSET', order_key, 'status', ORDER.manual_assign.to, 'taxi', taxi, 'holders', taxi,
  'accepted_ms', NOW, 'eta_s', eta_s, 'assigned_by', operator, 'updated', NOW)
redis.call('HSET', K.torders, taxi, id)
set_taxi_state(taxi, TAXI.manual_assign.to)
-- A reservation taken before its pickup time (a recurring trip is offered up to an hour
-- ahead) is due at the pickup, not now.
local due_from = math.max(NOW, tonumber(redis.call('HGET', order_key, 'pickup_ms')) or NOW)
redis.call('ZADD', K.watch, due_from + tonumber(arrive_within), id)
count(ORDER.manual_assign.to, order_key)
local waited = NOW - tonumber(redis.call('HGET', order_key, 'release_ms'))
local took = nil
if waited >= 0 then took = sample(ASSIGN, order_key, waited) end
notify(taxi, NOTICE.assigned, id, '')
audit(ORDER.manual_assign.audit, 'order', id, 'taxi', taxi, 'from', status, 'to', ORDER.manual_assign.to,
  'by', operator)
tell(MSG.assigned, order_key, id, taxi_facts(taxi_key, taxi, {eta_s = eta_s}))
return reply('done', took)
