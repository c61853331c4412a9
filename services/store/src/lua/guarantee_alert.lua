#!lua
-- A recurring trip still unassigned at T−15 (issue 14's guarantee): raises one operator
-- alert (the consoles' alerts list), once ever per trip, and tells the passenger and the
-- relative who booked through the notifications outbox, in the same step.
-- KEYS (after the city's): the order's hash, the new alert's hash, open alerts, all alerts
-- ARGV (after NOW, FEED_MAX): order id, new alert id
-- Reply: {kind = 'created', alert} | {kind = 'existing', alert} | {kind = 'gone'} (no such
--   order, or it has a taxi or ended)
local order_key, alert_key, open, all = own_keys()
local id, alert = own_args()
local o = redis.call('HMGET', order_key, 'status', 'g_alert', 'phone', 'name', 'p_lat', 'p_lon', 'p_addr')
if not o[1] then return reply('gone') end
if o[2] and o[2] ~= '' then return reply('existing', {alert = o[2]}) end
if o[1] ~= OS.scheduled and o[1] ~= OS.pending and o[1] ~= OS.offered then return reply('gone') end
redis.call('HSET', order_key, 'g_alert', alert)
redis.call('HSET', alert_key, 'id', alert, 'device', '', 'order', id, 'kind', 'guarantee',
  'phone', o[3] or '', 'name', o[4] or '', 'l_lat', o[5], 'l_lon', o[6], 'l_addr', o[7] or '',
  'l_ms', 0, 'contacts', '', 'raised', NOW, 'ack', '0')
redis.call('ZADD', open, NOW, alert)
redis.call('ZADD', all, NOW, alert)
audit(AUDIT.alert_raised, 'alert', alert, 'order', id)
tell(MSG.late, order_key, id)
return reply('created', {alert = alert})
