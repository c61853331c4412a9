-- Creates an order unless its request id was seen, or (for duplicate-prone channels)
-- the caller already has an active order due within the window: then returns that one.
-- KEYS: order seq, caller orders, caller active, pending queue, scheduled, events, request key, caller hash
-- ARGV: [1] entity prefix, [2] has request id (0/1), [3] request ttl s, [4] dedupe (0/1),
--       [5] dedupe: pickup at or before this ms, [6] now ms, [7] status, [8] queue score or release ms,
--       [9] pickup ms, [10] caller name if new, then field/value pairs of the order, which
--       start with channel ([11], [12]) and reason ([13], [14])
if ARGV[2] == '1' then
  local seen = redis.call('GET', KEYS[7])
  if seen then return {'existing', seen} end
end
if ARGV[4] == '1' then
  local active = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
  for i = #active, 1, -1 do
    local st = redis.call('HGET', ARGV[1] .. 'order:' .. active[i], 'status')
    if st and st ~= 'completed' and st ~= 'cancelled' and st ~= 'unfulfilled' then
      if ARGV[2] == '1' then redis.call('SET', KEYS[7], active[i], 'EX', ARGV[3]) end
      return {'existing', active[i]}
    end
  end
end
local id = 'O' .. redis.call('INCR', KEYS[1])
local key = ARGV[1] .. 'order:' .. id
local fields = {'id', id, 'status', ARGV[7], 'created', ARGV[6], 'updated', ARGV[6]}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[6], id)
redis.call('ZADD', KEYS[3], ARGV[9], id)
redis.call('HINCRBY', ARGV[1] .. 'stats', 'total', 1)
redis.call('HINCRBY', ARGV[1] .. 'stats', 'ch:' .. ARGV[12], 1)
if ARGV[14] ~= '' then redis.call('HINCRBY', ARGV[1] .. 'stats', 'elderly', 1) end
if ARGV[7] == 'pending' then
  redis.call('ZADD', KEYS[4], ARGV[8], id)
  redis.call('LPUSH', ARGV[1] .. 'dispatch:wakeup', '1')
  redis.call('LTRIM', ARGV[1] .. 'dispatch:wakeup', 0, 999)
else
  redis.call('ZADD', KEYS[5], ARGV[8], id)
end
if ARGV[2] == '1' then redis.call('SET', KEYS[7], id, 'EX', ARGV[3]) end
if redis.call('HSETNX', KEYS[8], 'created', ARGV[6]) == 1 then
  redis.call('HSET', KEYS[8], 'name', ARGV[10], 'updated', ARGV[6])
end
redis.call('XADD', KEYS[6], '*', 'type', 'order_created', 'order', id, 'to', ARGV[7], 'ts', ARGV[6])
return {'created', id}
