-- The sweeper, run by every dispatch process every few hundred milliseconds (any number
-- at once is safe): reservations whose time has come, retries that are due, offers nobody
-- answered.
-- ARGV: prefix, now, elderly head start ms, max missed offers, batch limit
local limit = tonumber(ARGV[5])
local function due(key)
  return redis.call('ZRANGE', key, '-inf', NOW, 'BYSCORE', 'LIMIT', 0, limit)
end
local released = due(K.scheduled)
for _, id in ipairs(released) do
  redis.call('ZREM', K.scheduled, id)
  local ok = okey(id)
  if redis.call('HGET', ok, 'status') == 'scheduled' then
    local q = NOW - (tonumber(redis.call('HGET', ok, 'prio')) or 0) * tonumber(ARGV[3])
    redis.call('HSET', ok, 'status', 'pending', 'qscore', q, 'release_ms', NOW, 'updated', NOW)
    redis.call('ZADD', K.pending, q, id)
    redis.call('XADD', K.events, '*', 'type', 'order_released', 'order', id, 'from', 'scheduled',
      'to', 'pending', 'ts', NOW)
    wake()
  end
end
local retried = due(K.retry)
for _, id in ipairs(retried) do
  redis.call('ZREM', K.retry, id)
  if redis.call('HGET', okey(id), 'status') == 'pending' then
    redis.call('ZADD', K.pending, redis.call('HGET', okey(id), 'qscore') or NOW, id)
    wake()
  end
end
local expired = due(K.offers)
for _, member in ipairs(expired) do
  local sep = string.find(member, '|', 1, true)
  release_offer(string.sub(member, 1, sep - 1), string.sub(member, sep + 1), 'expired', tonumber(ARGV[4]))
end
return {#released, #retried, #expired}
