#!lua
-- The built-in pool binds a virtual number X to a trip's passenger A and driver B, under
-- the AXB rule: a live X is bound at most once per party, so whoever dials X reaches
-- exactly one other person. The least used number that neither party holds is taken.
-- Idempotent by subscription: binding it again answers the number it holds.
-- KEYS: pool zset (number → live bindings), parties hash (`X|phone` → subscription),
--   subscriptions hash (subscription → JSON binding)
-- ARGV (after NOW): subscription (the order id), A's phone, B's phone
-- Reply: {kind = 'bound', x} | {kind = 'exhausted'}
local pool, parties, subs = own_keys()
local sub, a, b = own_args()
local held = redis.call('HGET', subs, sub)
if held then return reply('bound', {x = cjson.decode(held).x}) end
-- Bounded by the configured pool (at most taxi_domain::privacy::MAX_POOL_NUMBERS).
local numbers = redis.call('ZRANGE', pool, 0, -1)
for _, x in ipairs(numbers) do
  local fa, fb = x .. '|' .. a, x .. '|' .. b
  if redis.call('HEXISTS', parties, fa) == 0 and redis.call('HEXISTS', parties, fb) == 0 then
    redis.call('HSET', parties, fa, sub, fb, sub)
    redis.call('ZINCRBY', pool, 1, x)
    redis.call('HSET', subs, sub, cjson.encode({x = x, a = a, b = b, at = NOW}))
    return reply('bound', {x = x})
  end
end
return reply('exhausted')
