-- Cancels an order if its status allows, taking back every offer of it and freeing the
-- taxi that holds it, in the same step; the drivers concerned are told.
-- ARGV: prefix, now, order, allowed statuses csv, cancelled by, reason
local id = ARGV[3]
local ok = okey(id)
if redis.call('EXISTS', ok) == 0 then return {'missing'} end
local st = redis.call('HGET', ok, 'status')
if not string.find(',' .. ARGV[4] .. ',', ',' .. st .. ',', 1, true) then return {'refused', st} end
local released = {}
for _, h in ipairs(split(redis.call('HGET', ok, 'holders'))) do
  if redis.call('HGET', K.torders, h) == id then released[#released + 1] = h end
end
withdraw_all(id, '', ARGV[6], 'cancelled')
redis.call('HSET', ok, 'status', 'cancelled', 'c_by', ARGV[5], 'c_reason', ARGV[6], 'holders', '',
  'updated', NOW, 'ended_ms', NOW)
for _, key in ipairs({K.pending, K.scheduled, K.retry}) do redis.call('ZREM', key, id) end
redis.call('ZREM', P .. 'caller:' .. redis.call('HGET', ok, 'phone') .. ':active', id)
redis.call('HINCRBY', K.stats, 'cancelled', 1)
redis.call('XADD', K.events, '*', 'type', 'order_cancelled', 'order', id, 'from', st, 'to', 'cancelled',
  'by', ARGV[5], 'ts', NOW)
return {'ok', st, table.concat(released, ',')}
