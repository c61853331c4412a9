#!lua
-- Forgets a trip's privacy number once the provider released it: the order no longer
-- shows it, and it leaves the release schedule.
-- KEYS: bindings hash, release zset, the order's hash
-- ARGV (after NOW): order, subscription (only that binding is forgotten)
-- Reply: {kind = 'released'} | {kind = 'gone'}
local bindings, release, order_key = own_keys()
local order, sub = own_args()
local held = redis.call('HGET', bindings, order)
if not held or cjson.decode(held).sub ~= sub then
  if not held then redis.call('ZREM', release, order) end
  return reply('gone')
end
local x = cjson.decode(held).x
redis.call('HDEL', bindings, order)
redis.call('ZREM', release, order)
if redis.call('HGET', order_key, 'px') == x then redis.call('HDEL', order_key, 'px') end
return reply('released')
