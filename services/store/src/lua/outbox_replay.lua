#!lua
-- An operator replays a dead letter: its message goes back into the outbox as a new entry
-- with the same fields (so the same idempotency key), and leaves the dead letters.
-- KEYS: the outbox stream, dead letters (zset), dead letters' messages (hash)
-- ARGV (after NOW): the dead letter's id
-- Reply: {kind = 'replayed', id} | {kind = 'missing'}
local outbox, dead, dead_msgs = own_keys()
local id = own_args()
local m = redis.call('HGET', dead_msgs, id)
if not m then return reply('missing') end
local fields = cjson.decode(m).fields
if #fields == 0 then return reply('missing') end
local new = redis.call('XADD', outbox, '*', unpack(fields))
redis.call('ZREM', dead, id)
redis.call('HDEL', dead_msgs, id)
return reply('replayed', {id = new})
