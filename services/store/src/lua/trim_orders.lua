#!lua
-- The retention pass over finished orders: deletes each one that finished before the
-- cutoff (its hash, its tried set) and takes it out of its caller's history. An order
-- that is not finished (completed, cancelled, or unfulfilled with its call-back resolved)
-- is never deleted, only dropped from the finished set if it got there by mistake.
-- KEYS: finished orders (orders:ended), then per order: its hash, its tried set, its
--   caller's orders
-- ARGV (after NOW): cutoff ms, then the order ids (in the order of their keys)
-- Reply: {kind = 'trimmed', deleted = n}
local ended = KEYS[1]
local cutoff = tonumber(ARGV[2])
local deleted = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local base = 2 + (i - 3) * 3
  local order_key, tried_key, history = KEYS[base], KEYS[base + 1], KEYS[base + 2]
  local at = redis.call('ZSCORE', ended, id)
  if at and tonumber(at) <= cutoff then
    local o = redis.call('HMGET', order_key, 'status', 'cb')
    local finished = o[1] == OS.completed or o[1] == OS.cancelled
      or (o[1] == OS.unfulfilled and o[2] == CBS.resolved)
    if finished or not o[1] then
      redis.call('DEL', order_key, tried_key)
      redis.call('ZREM', history, id)
      deleted = deleted + 1
    end
    redis.call('ZREM', ended, id)
  end
end
return reply('trimmed', {deleted = deleted})
