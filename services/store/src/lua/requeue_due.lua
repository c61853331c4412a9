#!lua
-- When an order's retry time has come, every order waiting for a taxi goes back to the
-- queue at its own score (soonest retry first, up to `most`), all in one step, so the
-- queue's priority decides who gets a taxi that came free while they waited. Moving only
-- the due ones let an order whose last attempt fell in an earlier retry tick take a freed
-- taxi before an older passenger (or an earlier booking) whose attempt fell in the next
-- tick (`tests/dispatch.rs`'s aging test caught it); the others are attempted at most one
-- retry interval early.
-- KEYS: the city's only
-- ARGV (after NOW, FEED_MAX): most orders to move
-- Reply: {kind = 'done', moved}
local most = own_args()
if #redis.call('ZRANGE', K.retry, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, 1) == 0 then
  return reply('done', {moved = 0})
end
local due = redis.call('ZRANGE', K.retry, 0, tonumber(most) - 1)
for _, id in ipairs(due) do
  local score = redis.call('ZSCORE', K.waiting, id)
  unwait(id)
  if score then redis.call('ZADD', K.pending, score, id) end
end
local head = redis.call('ZRANGE', K.pending, 0, 0)[1]
if head then
  for _ = 1, #due do wake(head) end
end
return reply('done', {moved = #due})
