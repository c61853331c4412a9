#!lua
-- An operator resolves the call-back of an unfulfilled order: the outcome is recorded, the
-- order leaves the call-back list and its retention starts (`K.ended`). A repeat changes
-- nothing (the first resolution stands).
-- KEYS (after the city's): the order's hash
-- ARGV (after NOW, CHANNEL): order id, operator id, outcome
-- Reply: {kind = 'resolved'} | {kind = 'already'} | {kind = 'missing'}
--      | {kind = 'no_callback', status} (the order was not given up) | {kind = 'refused', state}
local order_key = own_keys()
local id, operator, outcome = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
local o = redis.call('HMGET', order_key, 'status', 'cb')
if o[1] ~= ORDER.give_up.to then return reply('no_callback', {status = o[1]}) end
local st = o[2] or CBS.open
if may(CALLBACK.resolve, st) then
  redis.call('HSET', order_key, 'cb', CALLBACK.resolve.to, 'cb_by', operator, 'cb_ms', NOW,
    'cb_outcome', outcome, 'updated', NOW)
  redis.call('ZREM', K.callbacks, id)
  redis.call('ZADD', K.ended, NOW, id)
  audit(CALLBACK.resolve.audit, 'order', id, 'by', operator)
  return reply('resolved')
end
if already(CALLBACK.resolve, st) then return reply('already') end
return reply('refused', {status = st})
