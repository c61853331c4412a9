#!lua
-- Records the privacy number a provider bound to a trip, if the trip is still live with
-- the same taxi: the order shows the number (`px`) and the driver's stream is told
-- (a `privacy_number` notice; the stream reads the number from the order). A trip that
-- ended or moved to another taxi meanwhile records nothing: the caller unbinds.
-- KEYS: bindings hash, stats hash, the order's hash, driver feed
-- ARGV (after NOW): order, taxi, number, subscription, provider, feed cap
-- Reply: {kind = 'recorded'} | {kind = 'already', x, sub} (the order holds a binding:
--   this one if `sub` is the same) | {kind = 'moved'}
local bindings, stats, order_key, feed = own_keys()
local order, taxi, x, sub, provider, feed_max = own_args()
local held = redis.call('HGET', bindings, order)
if held then
  local h = cjson.decode(held)
  return reply('already', {x = h.x, sub = h.sub})
end
local o = redis.call('HMGET', order_key, 'status', 'taxi')
local live = o[1] == OS.accepted or o[1] == OS.arrived or o[1] == OS.on_trip
if not live or o[2] ~= taxi then return reply('moved') end
redis.call('HSET', bindings, order,
  cjson.encode({x = x, sub = sub, taxi = taxi, provider = provider, at = tonumber(NOW)}))
redis.call('HINCRBY', stats, 'bound', 1)
redis.call('HSET', order_key, 'px', x)
redis.call('HDEL', order_key, 'px_why')
redis.call('XADD', feed, 'MAXLEN', '~', feed_max, '*', 'taxi', taxi, 'n',
  cjson.encode({taxi = taxi, kind = NOTICE.privacy_number, order = order, reason = ''}))
return reply('recorded')
