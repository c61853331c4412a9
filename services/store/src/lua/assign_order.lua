-- An operator assigns a chosen free taxi by hand, atomically like any other claim.
-- ARGV: prefix, now, order, taxi, eta seconds, operator
local id, taxi = ARGV[3], ARGV[4]
local ok = okey(id)
if redis.call('EXISTS', ok) == 0 then return {'missing'} end
local status = redis.call('HGET', ok, 'status')
if status ~= 'pending' and status ~= 'scheduled' and status ~= 'offered' then return {'refused', status} end
local tst = redis.call('HGET', K.states, taxi)
if not tst then return {'no_taxi'} end
if tst ~= 'free' or redis.call('HEXISTS', K.torders, taxi) == 1 then return {'taxi_busy', tst} end
withdraw_all(id, '', 'assigned by an operator', 'withdrawn')
for _, key in ipairs({K.pending, K.scheduled, K.retry}) do redis.call('ZREM', key, id) end
redis.call('HSET', ok, 'status', 'accepted', 'taxi', taxi, 'holders', taxi, 'accepted_ms', NOW,
  'eta_s', ARGV[5], 'assigned_by', ARGV[6], 'updated', NOW)
redis.call('HSET', K.states, taxi, 'assigned')
redis.call('HSET', K.torders, taxi, id)
leave_free(taxi)
redis.call('HINCRBY', K.stats, 'assigned', 1)
local waited = NOW - tonumber(redis.call('HGET', ok, 'release_ms'))
if waited >= 0 then sample('assign:' .. group(ok), waited) end
notify(taxi, 'assigned', id, '')
redis.call('XADD', K.events, '*', 'type', 'order_assigned', 'order', id, 'taxi', taxi, 'from', status,
  'to', 'accepted', 'by', ARGV[6], 'ts', NOW)
return {'ok'}
