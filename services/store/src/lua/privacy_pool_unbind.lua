#!lua
-- The built-in pool releases a subscription: its number is free again for both parties.
-- Idempotent: an unknown (already released) subscription changes nothing.
-- KEYS: pool zset, parties hash, subscriptions hash
-- ARGV (after NOW): subscription
-- Reply: {kind = 'released', x} | {kind = 'gone'}
local pool, parties, subs = own_keys()
local sub = own_args()
local held = redis.call('HGET', subs, sub)
if not held then return reply('gone') end
local s = cjson.decode(held)
for _, party in ipairs({s.a, s.b}) do
  local f = s.x .. '|' .. party
  if redis.call('HGET', parties, f) == sub then redis.call('HDEL', parties, f) end
end
-- A number taken out of the configured pool meanwhile does not come back.
if redis.call('ZSCORE', pool, s.x) then redis.call('ZINCRBY', pool, -1, s.x) end
redis.call('HDEL', subs, sub)
return reply('released', {x = s.x})
