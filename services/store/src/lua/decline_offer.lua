-- A driver declines: the taxi is free again and the order goes on to the next taxi.
-- ARGV: prefix, now, order, taxi
local ok = okey(ARGV[3])
if redis.call('EXISTS', ok) == 0 then return {'missing'} end
if release_offer(ARGV[3], ARGV[4], 'declined', 0) then return {'ok'} end
return {'gone', redis.call('HGET', ok, 'status')}
