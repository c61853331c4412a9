#!lua
-- A delivery failed: the message waits for its next attempt, or, after its last, becomes a
-- dead letter (a copy of its fields, acknowledged off the outbox) for operators to replay.
-- Nothing happens if this worker no longer holds it (another claimed it meanwhile).
-- KEYS: the outbox stream, the retry schedule, the attempts hash, dead letters (zset),
--   dead letters' messages (hash)
-- ARGV (after NOW): group, consumer, entry id, failures so far (this one included),
--   next attempt ms ('' for a dead letter), the error
-- Reply: {kind = 'retry'} | {kind = 'dead'} | {kind = 'gone'}
local outbox, retry, attempts, dead, dead_msgs = own_keys()
local group, consumer, id, failures, next_ms, err = own_args()
local held = redis.call('XPENDING', outbox, group, id, id, 1, consumer)
if #held == 0 then return reply('gone') end
if next_ms ~= '' then
  redis.call('HSET', attempts, id, failures)
  redis.call('ZADD', retry, next_ms, id)
  return reply('retry')
end
local e = redis.call('XRANGE', outbox, id, id)
local fields = {}
if e[1] then fields = e[1][2] end
redis.call('HSET', dead_msgs, id, cjson.encode({fields = fields, attempts = tonumber(failures),
  error = err, at = NOW}))
redis.call('ZADD', dead, NOW, id)
redis.call('XACK', outbox, group, id)
redis.call('ZREM', retry, id)
redis.call('HDEL', attempts, id)
return reply('dead')
