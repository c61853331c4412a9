#!lua
-- Gives up on a queued order that waited too long (outages not counted) or was offered too
-- often: UNFULFILLED, on the operators' call-back list, no longer the caller's active order.
-- The passenger (and a booking relative) are told, through the outbox.
-- (Its retention starts when an operator resolves the call-back, `resolve_callback.lua`.)
-- KEYS (after the city's): the order's hash, the caller's active orders
-- ARGV (after NOW, FEED_MAX): order id, max offers, max age ms
-- Reply: {kind = 'done'} | {kind = 'kept'} (no longer queued, or no longer due)
local order_key, caller_active = own_keys()
local id, max_offers, max_age = own_args()
local o = redis.call('HMGET', order_key, 'status', 'offers', 'release_ms', 'round_ms', 'round_offers')
if not redis.call('ZSCORE', K.pending, id) or not may(ORDER.give_up, o[1]) then return reply('kept') end
if not gives_up({offers = o[2], release_ms = o[3], round_ms = o[4], round_offers = o[5]}, max_offers, max_age) then
  return reply('kept')
end
redis.call('ZREM', K.pending, id)
forget_waiting(id)
redis.call('HSET', order_key, 'status', ORDER.give_up.to, 'updated', NOW, 'ended_ms', NOW)
redis.call('ZADD', K.callbacks, NOW, id)
redis.call('ZREM', caller_active, id)
count(ORDER.give_up.to, order_key)
audit(ORDER.give_up.audit, 'order', id, 'from', o[1], 'to', ORDER.give_up.to)
tell(MSG.unfulfilled, order_key, id)
return reply('done')
