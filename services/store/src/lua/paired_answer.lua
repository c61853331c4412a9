#!lua
-- A paired caring-fleet driver confirms or refuses one coming recurring trip (issue 14),
-- before it is dispatched. A confirmed trip names the taxi as `pref_taxi`: dispatch
-- offers it to that taxi first. A refused one forgets it and marks the taxi as having
-- had its chance (the tried set), so it goes to the rest of the caring fleet.
-- KEYS (after the city's): the order's hash, its tried set
-- ARGV (after NOW, FEED_MAX): order id, taxi id, answer ('confirmed' | 'refused')
-- Reply: {kind = 'done'} | {kind = 'missing'} | {kind = 'not_paired'} | {kind = 'gone', status}
local order_key, tried_key = own_keys()
local id, taxi, answer = own_args()
local o = redis.call('HMGET', order_key, 'status', 'paired')
if not o[1] then return reply('missing') end
if o[2] ~= taxi then return reply('not_paired') end
if o[1] ~= OS.scheduled and o[1] ~= OS.pending then return reply('gone', {status = o[1]}) end
if answer == 'confirmed' then
  redis.call('HSET', order_key, 'pconf', answer, 'pref_taxi', taxi, 'updated', NOW)
  redis.call('SREM', tried_key, taxi)
else
  redis.call('HSET', order_key, 'pconf', answer, 'pref_taxi', '', 'updated', NOW)
  redis.call('SADD', tried_key, taxi)
end
notify(taxi, NOTICE.paired, id, answer)
return reply('done')
