#!lua
-- Creates an order unless its request id was seen, or (for duplicate-prone channels) the
-- caller already has an active order due within the window: then names that one.
-- Not of the city family (no library, few keys): it is on every booking's path.
-- KEYS: the new order's hash, the caller's orders, the caller's active orders, the request
--   id's key, the caller's hash, the city's stats, pending queue, schedule, wake-up list, events,
--   the notifications outbox, a recurring pattern's made-occurrences hash and the pattern
--   (never-written keys when none)
-- ARGV (after NOW): order id, has request id (0/1), request ttl s, dedupe (0/1),
--   dedupe: pickup at or before this ms, status code (OS.pending or OS.scheduled), queue
--   score or release ms, pickup ms, caller name if new, channel code, elderly reason
--   ('' if none), occurrence key of a recurring pattern ('' if none), the pattern's version
--   the occurrence was computed from, then field/value pairs of the order
-- A recurring occurrence is made once ever: the made hash names its order, written with it;
-- and only from the pattern as it stands (a pass that read an older version, or a pattern
-- since cancelled, makes nothing: 'stale').
-- The order keeps the passenger's message channel (the caller's `notify`, SMS if unset);
-- a relative's booking (field `n_rel`, the relative's phone) is told to both, through the
-- outbox, in the same step.
-- Reply: {kind = 'created', fields = {field, value, ...}} (the stored order, so nothing is
--   read back) | {kind = 'existing', order}
local order_key, caller_orders, caller_active, request_key, caller_key, stats, pending, scheduled,
  wakeup, events, outbox, made, pattern = own_keys()
local id, has_request, ttl, dedupe, due_by, status, score, pickup_ms, name, channel, reason,
  occurrence, version = own_args()
local FIELDS = 15
if occurrence ~= '' then
  local seen = redis.call('HGET', made, occurrence)
  if seen then return reply('existing', {order = seen}) end
  local raw = redis.call('GET', pattern)
  if not raw then return reply('stale', {}) end
  local p = cjson.decode(raw)
  if p.cancelled or tostring(p.ver) ~= version then return reply('stale', {}) end
end
if has_request == '1' then
  local seen = redis.call('GET', request_key)
  if seen then return reply('existing', {order = seen}) end
end
if dedupe == '1' then
  -- The active set is exact (every ending removes the order), so its members are live.
  local active = redis.call('ZRANGE', caller_active, '-inf', due_by, 'BYSCORE')
  if #active > 0 then
    local existing = active[#active]
    if has_request == '1' then redis.call('SET', request_key, existing, 'EX', ttl) end
    return reply('existing', {order = existing})
  end
end
local fields = {'id', id, 'status', status, 'channel', channel, 'reason', reason, 'created', NOW,
  'updated', NOW}
for i = FIELDS, #ARGV do fields[#fields + 1] = ARGV[i] end
local nch = redis.call('HGET', caller_key, 'notify') or NCH.sms
fields[#fields + 1] = 'nch'
fields[#fields + 1] = nch
redis.call('HSET', order_key, unpack(fields))
redis.call('ZADD', caller_orders, NOW, id)
redis.call('ZADD', caller_active, pickup_ms, id)
redis.call('HINCRBY', stats, 'total', 1)
redis.call('HINCRBY', stats, 'ch:' .. channel, 1)
if reason ~= '' then redis.call('HINCRBY', stats, 'elderly', 1) end
if status == OS.pending then
  redis.call('ZADD', pending, score, id)
  -- Wake a dispatch worker; the token names the order (a hint of the queue's head).
  redis.call('LPUSH', wakeup, id)
  redis.call('LTRIM', wakeup, 0, 999)
else
  redis.call('ZADD', scheduled, score, id)
end
if has_request == '1' then redis.call('SET', request_key, id, 'EX', ttl) end
if occurrence ~= '' then redis.call('HSET', made, occurrence, id) end
if redis.call('HSETNX', caller_key, 'created', NOW) == 1 then
  redis.call('HSET', caller_key, 'name', name, 'updated', NOW)
end
redis.call('XADD', events, '*', 'type', AUDIT.order_created, 'order', id, 'to', status, 'ts', NOW)
local o = redis.call('HMGET', order_key, 'phone', 'n_rel', 'name', 'p_addr')
if o[2] and o[2] ~= '' then
  local msgs = {{o[1], RCPT.passenger, nch}}
  if o[2] ~= o[1] then msgs[2] = {o[2], RCPT.relative, NCH.sms} end
  for _, m in ipairs(msgs) do
    redis.call('XADD', outbox, '*', 'kind', MSG.booked, 'to', m[1], 'role', m[2], 'ch', m[3],
      'order', id, 'name', o[3] or '', 'addr', o[4] or '', 'ts', NOW)
  end
end
return reply('created', {fields = redis.call('HGETALL', order_key)})
