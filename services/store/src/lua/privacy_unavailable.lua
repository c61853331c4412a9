#!lua
-- Records why a live trip has no privacy number (operators see it with the order; the
-- driver keeps the masked number). Counted once per order and reason.
-- KEYS: stats hash, the order's hash, bindings hash
-- ARGV (after NOW): order, reason code
-- Reply: {kind = 'recorded'} | {kind = 'already'} | {kind = 'bound'}
local stats, order_key, bindings = own_keys()
local order, why = own_args()
if redis.call('HEXISTS', bindings, order) == 1 then return reply('bound') end
if redis.call('EXISTS', order_key) == 0 then return reply('already') end
if redis.call('HGET', order_key, 'px_why') == why then return reply('already') end
redis.call('HSET', order_key, 'px_why', why)
redis.call('HINCRBY', stats, 'unavailable', 1)
return reply('recorded')
