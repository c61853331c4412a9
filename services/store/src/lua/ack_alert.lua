#!lua
-- Acknowledges an alert (idempotent: a second acknowledgement changes nothing).
-- KEYS: the alert's hash, open alerts, events
-- ARGV (after NOW): alert id, operator, note
-- Reply: {kind = 'acknowledged' | 'already' | 'missing'}
local alert_key, open, events = own_keys()
local id, operator, note = own_args()
if redis.call('EXISTS', alert_key) == 0 then return reply('missing') end
if redis.call('HGET', alert_key, 'ack') == '1' then return reply('already') end
redis.call('HSET', alert_key, 'ack', '1', 'ack_by', operator, 'ack_ms', NOW, 'note', note)
redis.call('ZREM', open, id)
redis.call('XADD', events, '*', 'type', AUDIT.alert_acknowledged, 'alert', id, 'by', operator, 'ts', NOW)
return reply('acknowledged')
