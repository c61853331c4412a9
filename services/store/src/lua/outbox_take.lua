#!lua
-- A sender worker takes what is due besides new messages: failed messages whose back-off
-- has passed, and messages a dead worker left pending (idle longer than the claim bound),
-- all claimed for this worker. A message waiting for its back-off only changes owner.
-- KEYS: the outbox stream, the retry schedule, the attempts hash
-- ARGV (after NOW): group, consumer, at most this many, claim idle ms
-- Reply: {kind = 'taken', entries = {{id, {field, value, ...}, failures}, ...}}
local outbox, retry, attempts = own_keys()
local group, consumer, count, idle = own_args()
count = tonumber(count)
local taken = {}
-- Due retries, whichever worker failed them.
local due = redis.call('ZRANGE', retry, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, count)
for _, id in ipairs(due) do
  redis.call('ZREM', retry, id)
  local got = redis.call('XCLAIM', outbox, group, consumer, 0, id)
  if type(got[1]) == 'table' then
    taken[#taken + 1] = got[1]
  else
    -- No longer pending (delivered meanwhile, or its entry is gone).
    redis.call('HDEL', attempts, id)
  end
end
-- Left by a dead worker. (The scan starts at the oldest pending entry every time; each
-- call moves at least what it claims out of the way, since claiming resets idle time.)
local left = count - #taken
if left > 0 then
  local r = redis.call('XAUTOCLAIM', outbox, group, consumer, idle, '0-0', 'COUNT', left)
  for _, e in ipairs(r[2]) do
    if type(e) == 'table' and not redis.call('ZSCORE', retry, e[1]) then taken[#taken + 1] = e end
  end
  for _, id in ipairs(r[3] or {}) do
    redis.call('ZREM', retry, id)
    redis.call('HDEL', attempts, id)
  end
end
local entries = {}
for _, e in ipairs(taken) do
  entries[#entries + 1] = {e[1], e[2], tonumber(redis.call('HGET', attempts, e[1]) or '0')}
end
return reply('taken', {entries = entries})
