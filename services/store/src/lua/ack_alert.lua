#!lua
-- Acknowledges an alert (idempotent: acknowledging an alert that is acknowledged or
-- resolved changes nothing).
-- KEYS: the alert's hash, open alerts, events
-- ARGV (after NOW): alert id, operator, note
-- Reply: {kind = 'acknowledged' | 'already' | 'missing'}
local alert_key, open, events = own_keys()
local id, operator, note = own_args()
if redis.call('EXISTS', alert_key) == 0 then return reply('missing') end
local a = redis.call('HMGET', alert_key, 'state', 'ack')
-- Alerts raised before states were stored carry only the acknowledged flag.
local st = a[1] or (a[2] == '1' and ALS.acknowledged) or ALS.open
if string.find(ALERT.acknowledge.from, ',' .. st .. ',', 1, true) == nil then
  return reply('already')
end
redis.call('HSET', alert_key, 'state', ALERT.acknowledge.to, 'ack', '1', 'ack_by', operator,
  'ack_ms', NOW, 'note', note)
redis.call('ZREM', open, id)
redis.call('XADD', events, '*', 'type', ALERT.acknowledge.audit, 'alert', id, 'by', operator, 'ts', NOW)
return reply('acknowledged')
