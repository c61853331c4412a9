-- Cancels an order if its status allows, freeing its taxi (if it holds one) in the same step.
-- KEYS: order hash, pending, scheduled, events, taxi states, taxi orders, free geo, positions geo, offers
-- ARGV: [1] order id, [2] allowed statuses csv, [3] cancelled by, [4] reason, [5] now ms, [6] entity prefix
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local st = redis.call('HGET', KEYS[1], 'status')
if not string.find(',' .. ARGV[2] .. ',', ',' .. st .. ',', 1, true) then return {'refused', st} end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'c_by', ARGV[3], 'c_reason', ARGV[4],
  'updated', ARGV[5], 'ended_ms', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
local phone = redis.call('HGET', KEYS[1], 'phone')
if phone then redis.call('ZREM', ARGV[6] .. 'caller:' .. phone .. ':active', ARGV[1]) end
-- Every taxi holding this order (one when offered or assigned; several in broadcast mode).
local released = {}
local holders = redis.call('HGET', KEYS[1], 'holders') or ''
for taxi in string.gmatch(holders, '[^,]+') do
  if redis.call('HGET', KEYS[6], taxi) == ARGV[1] then
    redis.call('HDEL', KEYS[6], taxi)
    local tst = redis.call('HGET', KEYS[5], taxi)
    if tst == 'offered' or tst == 'assigned' then
      redis.call('HSET', KEYS[5], taxi, 'free')
      local p = redis.call('GEOPOS', KEYS[8], taxi)[1]
      if p then redis.call('GEOADD', KEYS[7], p[1], p[2], taxi) end
      redis.call('XADD', KEYS[4], '*', 'type', 'taxi_released', 'taxi', taxi, 'order', ARGV[1],
        'from', tst, 'to', 'free', 'ts', ARGV[5])
    end
    released[#released + 1] = taxi
  end
end
redis.call('HSET', KEYS[1], 'holders', '')
redis.call('XADD', KEYS[4], '*', 'type', 'order_cancelled', 'order', ARGV[1], 'from', st,
  'to', 'cancelled', 'by', ARGV[3], 'ts', ARGV[5])
return {'ok', st, table.concat(released, ',')}
