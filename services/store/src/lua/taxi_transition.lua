#!lua
-- Moves a taxi that holds no order by a taxi event (sign on/off, street hail), keeping
-- the free index true.
-- KEYS (after the city's): the taxi's hash
-- ARGV (after NOW, FEED_MAX): taxi id, event code (TAXI.<code>)
-- Reply: {kind = 'done'} | {kind = 'missing'} | {kind = 'refused', state}
--      | {kind = 'holds_order', order}
local taxi_key = own_keys()
local id, code = own_args()
local event = TAXI[code]
if redis.call('EXISTS', taxi_key) == 0 then return reply('missing') end
local st = redis.call('HGET', K.states, id) or TS.off
if not may(event, st) then return reply('refused', {state = st}) end
local held = redis.call('HGET', K.torders, id)
if held then return reply('holds_order', {order = held}) end
-- A street hail taken by a taxi waiting in a stand's queue is a walk-up ride at that stand.
if event == TAXI.start_street_hail and redis.call('HEXISTS', K.stand_of, id) == 1 then
  redis.call('HINCRBY', K.stats, 'stand_rides', 1)
end
set_taxi_state(id, event.to)
if st ~= event.to then audit(event.audit, 'taxi', id, 'from', st, 'to', event.to) end
return reply('done')
