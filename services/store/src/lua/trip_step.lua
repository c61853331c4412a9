-- A step of a dispatched trip by the taxi that holds it: arrived, trip started, completed.
-- ARGV: prefix, now, order, taxi, allowed statuses csv, target status, allowed taxi states csv,
--       taxi target state ('' = unchanged), time field, event type, fare cents, paid by
local id, taxi, target = ARGV[3], ARGV[4], ARGV[6]
local ok = okey(id)
if redis.call('EXISTS', ok) == 0 then return {'missing'} end
local o = redis.call('HMGET', ok, 'status', 'taxi', 'phone', 'release_ms')
if o[2] ~= taxi then return {'not_yours', o[1]} end
if not string.find(',' .. ARGV[5] .. ',', ',' .. o[1] .. ',', 1, true) then return {'refused', o[1]} end
local tst = redis.call('HGET', K.states, taxi) or 'off'
if not string.find(',' .. ARGV[7] .. ',', ',' .. tst .. ',', 1, true) then return {'taxi_state', tst} end
redis.call('HSET', ok, 'status', target, ARGV[9], NOW, 'updated', NOW)
if target == 'completed' then
  redis.call('HSET', ok, 'fare', ARGV[11], 'paid_by', ARGV[12], 'ended_ms', NOW)
  redis.call('HDEL', K.torders, taxi)
  redis.call('ZREM', P .. 'caller:' .. o[3] .. ':active', id)
  set_taxi_free(taxi)
  redis.call('HINCRBY', K.stats, 'completed', 1)
elseif ARGV[8] ~= '' then
  redis.call('HSET', K.states, taxi, ARGV[8])
end
if target == 'arrived' then sample('pickup:' .. group(ok), NOW - tonumber(o[4])) end
redis.call('XADD', K.events, '*', 'type', ARGV[10], 'order', id, 'taxi', taxi, 'from', o[1], 'to', target,
  'ts', NOW)
return {'ok', o[1]}
