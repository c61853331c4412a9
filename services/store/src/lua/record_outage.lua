#!lua
-- Dispatch could not reach Redis from `start` to `end` (ms): the period is kept so that
-- it does not count against waiting orders (`lib.lua`'s `gives_up`). Periods that overlap
-- or touch (several processes saw the same outage) become one, so none is counted twice
-- (`taxi_domain::outage::merge`); periods that ended more than `keep` ms ago are dropped.
-- KEYS: the city's only
-- ARGV (after NOW, FEED_MAX): start ms, end ms, keep ms
-- Reply: {kind = 'done', start, ['end']} (the merged period)
local first, last, keep = own_args()
first, last = tonumber(first), tonumber(last)
for _, m in ipairs(redis.call('ZRANGE', K.outages, first, '+inf', 'BYSCORE')) do
  local s, e = string.match(m, '^(%d+):(%d+)$')
  s, e = tonumber(s), tonumber(e)
  if s <= last then
    first, last = math.min(first, s), math.max(last, e)
    redis.call('ZREM', K.outages, m)
  end
end
redis.call('ZADD', K.outages, last, string.format('%d:%d', first, last))
redis.call('ZREMRANGEBYSCORE', K.outages, '-inf', string.format('(%d', NOW - tonumber(keep)))
audit(AUDIT.dispatch_paused, 'start', string.format('%d', first), 'end', string.format('%d', last))
return reply('done', {start = first, ['end'] = last})
