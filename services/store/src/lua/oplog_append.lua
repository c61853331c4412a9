#!lua
-- Appends one entry to the operators' audit log, if the log still ends where the caller
-- hashed against (compare-and-set on the head): the entry's hash covers its predecessor's,
-- which only the caller can compute (SHA-256), so a concurrent append makes this one
-- answer `conflict` with the head as it is now, and the caller hashes again.
-- KEYS: the log (stream), its head (hash: hash, id)
-- ARGV (after NOW): prev (the hash the caller chained to; GENESIS for the first entry),
--   genesis, hash, actor, role, action, target, at_ms, from, detail
-- Reply: {kind = 'appended', id} | {kind = 'conflict', head = the head's hash now}
local log, head = own_keys()
local prev, genesis, hash, actor, role, action, target, at_ms, from, detail = own_args()
local current = redis.call('HGET', head, 'hash') or genesis
if current ~= prev then return reply('conflict', {head = current}) end
local id = redis.call('XADD', log, '*', 'actor', actor, 'role', role, 'action', action,
  'target', target, 'at_ms', at_ms, 'from', from, 'detail', detail, 'prev', prev, 'hash', hash)
redis.call('HSET', head, 'hash', hash, 'id', id)
return reply('appended', {id = id})
