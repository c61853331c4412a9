#!lua
-- Orders whose retry time has come go back to the queue at their own scores, all in one
-- step, so the queue's priority (not the order of the sweep) decides who gets a taxi
-- that came free while they waited.
-- KEYS: the city's only
-- ARGV (after NOW, FEED_MAX): most orders to move
-- Reply: {kind = 'done', moved}
local most = own_args()
local due = redis.call('ZRANGE', K.retry, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, tonumber(most))
for _, id in ipairs(due) do
  redis.call('ZREM', K.retry, id)
  local score = redis.call('HGET', K.retry_q, id)
  redis.call('HDEL', K.retry_q, id)
  if score then redis.call('ZADD', K.pending, score, id) end
end
local head = redis.call('ZRANGE', K.pending, 0, 0)[1]
if head then
  for _ = 1, #due do wake(head) end
end
return reply('done', {moved = #due})
