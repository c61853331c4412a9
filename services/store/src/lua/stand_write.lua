#!lua
-- Creates, replaces or deletes a stand record (checked by the caller), bumping the stands'
-- version so every process reloads its copy; deleting a stand empties its queue.
-- KEYS: stands hash, stands version, stand queues zset, taxi → stand queue member hash
-- ARGV (after NOW): op (`create`, `update` or `delete`), stand id, the stand's JSON ('' to
--   delete)
-- Reply: {kind = 'done'} | {kind = 'exists'} | {kind = 'missing'}
local stands, version, stand_q, stand_of = own_keys()
local op, id, record = own_args()
local known = redis.call('HEXISTS', stands, id) == 1
if op == 'create' and known then return reply('exists') end
if op ~= 'create' and not known then return reply('missing') end
if op == 'delete' then
  redis.call('HDEL', stands, id)
  local queued = redis.call('ZRANGE', stand_q, '[' .. id .. '|', '(' .. id .. '}', 'BYLEX')
  local taxis = {}
  for i, m in ipairs(queued) do taxis[i] = string.match(m, '|([^|]+)$') end
  if #queued > 0 then
    mcall('ZREM', stand_q, queued)
    mcall('HDEL', stand_of, taxis)
  end
else
  redis.call('HSET', stands, id, record)
end
redis.call('INCR', version)
return reply('done')
