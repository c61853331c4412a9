#!lua
-- Raises an emergency alert for a long press, unless the device raised one recently that
-- is still open; tells each care contact through the notifications outbox (by SMS).
-- KEYS: the device's hash, the new alert's hash, open alerts, all alerts, events, notifications
-- ARGV (after NOW): device id, repeat window ms, new alert id, caller phone, contacts csv,
--   then field/value pairs of the alert
-- Reply: {kind = 'created' | 'existing', alert}
local device_key, alert_key, open, all, events, notifications = own_keys()
local device, window, id, phone, contacts = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local FIELDS = 7
local last = redis.call('HMGET', device_key, 'alert', 'alert_ms')
if last[1] and last[2] and NOW - tonumber(last[2]) <= window and redis.call('ZSCORE', open, last[1]) then
  return reply('existing', {alert = last[1]})
end
local fields = {'id', id, 'device', device, 'raised', NOW, 'ack', '0'}
for i = FIELDS, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', alert_key, unpack(fields))
redis.call('ZADD', open, NOW, id)
redis.call('ZADD', all, NOW, id)
redis.call('HSET', device_key, 'alert', id, 'alert_ms', NOW)
redis.call('XADD', events, '*', 'type', AUDIT.alert_raised, 'alert', id, 'device', device, 'ts', NOW)
local name = redis.call('HGET', alert_key, 'name') or ''
for contact in string.gmatch(contacts, '[^,]+') do
  redis.call('XADD', notifications, '*', 'kind', MSG.emergency, 'to', contact,
    'role', RCPT.contact, 'ch', NCH.sms, 'alert', id, 'phone', phone, 'name', name, 'ts', NOW)
end
return reply('created', {alert = id})
