-- A driver accepts: the order gets this taxi, every other offer of it is withdrawn.
-- ARGV: prefix, now, order, taxi, eta seconds
local id, taxi = ARGV[3], ARGV[4]
local ok = okey(id)
if redis.call('EXISTS', ok) == 0 then return {'missing'} end
local status = redis.call('HGET', ok, 'status')
if not redis.call('ZSCORE', K.offers, id .. '|' .. taxi) or status ~= 'offered'
  or redis.call('HGET', K.torders, taxi) ~= id or redis.call('HGET', K.states, taxi) ~= 'offered' then
  return {'gone', status}
end
redis.call('ZREM', K.offers, id .. '|' .. taxi)
withdraw_all(id, taxi, 'taken by another taxi', 'withdrawn')
redis.call('HSET', ok, 'status', 'accepted', 'taxi', taxi, 'holders', taxi, 'accepted_ms', NOW,
  'eta_s', ARGV[5], 'updated', NOW)
redis.call('HSET', K.states, taxi, 'assigned')
redis.call('HSET', K.missed, taxi, 0)
redis.call('HINCRBY', K.stats, 'assigned', 1)
sample('assign:' .. group(ok), NOW - tonumber(redis.call('HGET', ok, 'release_ms')))
redis.call('XADD', K.events, '*', 'type', 'offer_accepted', 'order', id, 'taxi', taxi, 'from', 'offered',
  'to', 'accepted', 'ts', NOW)
return {'ok'}
