#!lua
-- An operator resolves an alert (open or acknowledged): it leaves the open list and its
-- retention starts (`alerts:resolved`). A repeat changes nothing (the first stands).
-- KEYS: the alert's hash, open alerts, resolved alerts, events
-- ARGV (after NOW): alert id, operator id, outcome
-- Reply: {kind = 'resolved' | 'already' | 'missing'}
local alert_key, open, resolved, events = own_keys()
local id, operator, outcome = own_args()
if redis.call('EXISTS', alert_key) == 0 then return reply('missing') end
local a = redis.call('HMGET', alert_key, 'state', 'ack')
-- Alerts raised before states were stored carry only the acknowledged flag.
local st = a[1] or (a[2] == '1' and ALS.acknowledged) or ALS.open
local function in_set(set, s) return string.find(set, ',' .. s .. ',', 1, true) ~= nil end
if in_set(ALERT.resolve.done, st) then return reply('already') end
if not in_set(ALERT.resolve.from, st) then return reply('refused', {state = st}) end
redis.call('HSET', alert_key, 'state', ALERT.resolve.to, 'res_by', operator, 'res_ms', NOW,
  'res_outcome', outcome)
redis.call('ZREM', open, id)
redis.call('ZADD', resolved, NOW, id)
redis.call('XADD', events, '*', 'type', ALERT.resolve.audit, 'alert', id, 'by', operator, 'ts', NOW)
return reply('resolved')
