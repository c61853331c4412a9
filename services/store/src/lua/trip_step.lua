#!lua
-- A step of a dispatched trip by the taxi that holds it: arrived, trip started, completed
-- (a completed order is finished: its retention starts, `K.ended`).
-- KEYS (after the city's): the order's hash, the caller's active orders, the taxi's hash
-- ARGV (after NOW, FEED_MAX): order id, taxi id, order event code (ORDER.<code>), taxi event
--   code (TAXI.<code>), the order's time field, fare cents, paid by, ms the trip has to
--   start once the taxi arrived (the watchdog's next deadline)
-- An arrival and a completion are told to the passenger (and a booking relative) through
-- the outbox.
-- Reply: {kind = 'done', first?, waited_ms?, elderly?} (first: not a retry; on arrival: the time to pickup) | {kind = 'missing'} | {kind = 'not_yours'}
--      | {kind = 'refused', status} | {kind = 'taxi_refused', state}
local order_key, caller_active, taxi_key = own_keys()
local id, taxi, order_code, taxi_code, time_field, fare, paid_by, start_within = own_args()
local event, taxi_event = ORDER[order_code], TAXI[taxi_code]
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local o = redis.call('HMGET', order_key, 'status', 'taxi', 'release_ms')
if o[2] ~= taxi then return reply('not_yours') end
-- A retry after a lost reply: the step is already done, by this taxi. Nothing to do.
if already(event, o[1]) then return reply('done') end
if not may(event, o[1]) then return reply('refused', {status = o[1]}) end
local st = redis.call('HGET', K.states, taxi) or TS.off
if not may(taxi_event, st) then return reply('taxi_refused', {state = st}) end
redis.call('HSET', order_key, 'status', event.to, time_field, NOW, 'updated', NOW)
if event == ORDER.complete then
  redis.call('HSET', order_key, 'fare', fare, 'paid_by', paid_by, 'ended_ms', NOW)
  redis.call('HDEL', K.torders, taxi)
  redis.call('ZREM', caller_active, id)
  redis.call('ZADD', K.ended, NOW, id)
  count(event.to, order_key)
end
-- The watchdog: off its lists (the trip moved on); an arrived taxi has a new deadline.
unwatch(id)
-- Reply fields for the caller's metrics: this call made the step (a retry's reply has no
-- `first`), and an arrival's time to pickup.
local took = {first = true}
if event == ORDER.arrive then
  local s = sample(PICKUP, order_key, NOW - tonumber(o[3]))
  took.waited_ms, took.elderly = s.waited_ms, s.elderly
  redis.call('ZADD', K.watch, NOW + tonumber(start_within), id)
end
set_taxi_state(taxi, taxi_event.to)
audit(event.audit, 'order', id, 'taxi', taxi, 'from', o[1], 'to', event.to)
if event == ORDER.arrive then
  tell(MSG.arrived, order_key, id, taxi_facts(taxi_key, taxi))
elseif event == ORDER.complete then
  tell(MSG.completed, order_key, id, taxi_facts(taxi_key, taxi, {fare = fare}))
end
return reply('done', took)
