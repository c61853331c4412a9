-- Moves a taxi that holds no order from one state to another, keeping the free index true.
-- KEYS: taxi hash, states, free geo, positions geo, taxi orders, events
-- ARGV: id, allowed source states csv, target state, now_ms, event type
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local st = redis.call('HGET', KEYS[2], ARGV[1]) or 'off'
if not string.find(',' .. ARGV[2] .. ',', ',' .. st .. ',', 1, true) then
  return {'refused', st}
end
local held = redis.call('HGET', KEYS[5], ARGV[1])
if held then return {'busy', st, held} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
-- A taxi's last position lives in `taxis:free` while FREE, in `taxis:pos` otherwise.
if ARGV[3] == 'free' then
  local p = redis.call('GEOPOS', KEYS[4], ARGV[1])[1]
  if p then
    redis.call('GEOADD', KEYS[3], p[1], p[2], ARGV[1])
    redis.call('ZREM', KEYS[4], ARGV[1])
  end
else
  local p = redis.call('GEOPOS', KEYS[3], ARGV[1])[1]
  if p then
    redis.call('GEOADD', KEYS[4], p[1], p[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
end
if st ~= ARGV[3] then
  redis.call('XADD', KEYS[6], '*', 'type', ARGV[5], 'taxi', ARGV[1], 'from', st, 'to', ARGV[3], 'ts', ARGV[4])
end
return {'ok', st}
