#!lua
-- Cancels an order if its status allows, taking back every offer of it and freeing the
-- taxi that holds it, in the same step; the drivers concerned are told.
-- KEYS (after the city's): the order's hash, the caller's active orders
-- ARGV (after NOW, FEED_MAX): order id, cancelled by (code), reason
-- Reply: {kind = 'done', from, released = [taxi ids]} | {kind = 'missing'}
--      | {kind = 'refused', status}
local order_key, caller_active = own_keys()
local id, by, why = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local st = redis.call('HGET', order_key, 'status')
if not may(ORDER.cancel, st) then return reply('refused', {status = st}) end
local released = {}
for _, h in ipairs(split(redis.call('HGET', order_key, 'holders'))) do
  if redis.call('HGET', K.torders, h) == id then released[#released + 1] = h end
end
withdraw_all(id, order_key, '', why, NOTICE.cancelled)
redis.call('HSET', order_key, 'status', ORDER.cancel.to, 'c_by', by, 'c_reason', why, 'holders', '',
  'updated', NOW, 'ended_ms', NOW)
for _, key in ipairs({K.pending, K.scheduled}) do redis.call('ZREM', key, id) end
forget_waiting(id)
unwatch(id)
redis.call('ZREM', caller_active, id)
redis.call('ZADD', K.ended, NOW, id)
count(ORDER.cancel.to, order_key)
audit(ORDER.cancel.audit, 'order', id, 'from', st, 'to', ORDER.cancel.to, 'by', by)
return reply('done', {from = st, released = released})
