#!lua
-- The watchdog: a trip whose stage deadline passed (the taxi did not reach the pickup, or
-- the trip did not start, in time) goes on the operators' list, once per stage: it
-- leaves the watch index here and re-enters it only with its next stage.
-- KEYS (after the city's): the order's hash
-- ARGV (after NOW, FEED_MAX): order id
-- Reply: {kind = 'done'} (flagged) | {kind = 'kept'} (not due, or no longer watched)
local order_key = own_keys()
local id = own_args()
local due = redis.call('ZSCORE', K.watch, id)
if not due or tonumber(due) > NOW then return reply('kept') end
redis.call('ZREM', K.watch, id)
local o = redis.call('HMGET', order_key, 'status', 'taxi')
-- Only a trip that can be redispatched is stuck. Every step off ACCEPTED or ARRIVED takes
-- the order off the index, so this is a safeguard.
if not may(ORDER.redispatch, o[1]) then return reply('kept') end
redis.call('ZADD', K.stuck, NOW, id)
audit(AUDIT.order_stuck, 'order', id, 'taxi', o[2] or '', 'status', o[1],
  'overdue_ms', string.format('%d', NOW - tonumber(due)))
return reply('done')
