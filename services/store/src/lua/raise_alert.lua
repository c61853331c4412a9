-- Raises an emergency alert for a long press, unless the device raised one recently that
-- is still open; tells each care contact through the notifications stream.
-- KEYS: device hash, alert seq, open alerts, all alerts, events, notifications
-- ARGV: [1] device id, [2] now ms, [3] repeat window ms, [4] entity prefix, [5] caller phone,
--       [6] contacts csv, then field/value pairs of the alert
local last = redis.call('HMGET', KEYS[1], 'alert', 'alert_ms')
if last[1] and last[2] and tonumber(ARGV[2]) - tonumber(last[2]) <= tonumber(ARGV[3])
   and redis.call('ZSCORE', KEYS[3], last[1]) then
  return {'existing', last[1]}
end
local id = 'A' .. redis.call('INCR', KEYS[2])
local fields = {'id', id, 'device', ARGV[1], 'raised', ARGV[2], 'ack', '0'}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', ARGV[4] .. 'alert:' .. id, unpack(fields))
redis.call('ZADD', KEYS[3], ARGV[2], id)
redis.call('ZADD', KEYS[4], ARGV[2], id)
redis.call('HSET', KEYS[1], 'alert', id, 'alert_ms', ARGV[2])
redis.call('XADD', KEYS[5], '*', 'type', 'alert_raised', 'alert', id, 'device', ARGV[1], 'ts', ARGV[2])
for contact in string.gmatch(ARGV[6], '[^,]+') do
  redis.call('XADD', KEYS[6], '*', 'kind', 'emergency', 'to', contact, 'alert', id,
    'caller', ARGV[5], 'ts', ARGV[2])
end
return {'created', id}
