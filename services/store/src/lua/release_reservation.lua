#!lua
-- A reservation whose time has come enters the dispatch queue, with the older
-- passenger's head start from now.
-- KEYS (after the city's): the order's hash
-- ARGV (after NOW, FEED_MAX): order id, elderly head start ms
-- Reply: {kind = 'done'} | {kind = 'gone'} (not due, or no longer scheduled)
local order_key = own_keys()
local id, head_start = own_args()
local due = redis.call('ZSCORE', K.scheduled, id)
if not due or tonumber(due) > NOW then return reply('gone') end
redis.call('ZREM', K.scheduled, id)
local status = redis.call('HGET', order_key, 'status')
if not may(ORDER.release, status) then return reply('gone') end
local q = NOW - (tonumber(redis.call('HGET', order_key, 'prio')) or 0) * tonumber(head_start)
redis.call('HSET', order_key, 'status', ORDER.release.to, 'qscore', q, 'release_ms', NOW, 'updated', NOW)
redis.call('ZADD', K.pending, q, id)
audit(ORDER.release.audit, 'order', id, 'from', status, 'to', ORDER.release.to)
wake(id)
return reply('done')
