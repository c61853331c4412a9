#!lua
-- A driver declines: the taxi is free again and the order goes on to the next taxi.
-- KEYS (after the city's): the order's hash, its tried set
-- ARGV (after NOW, FEED_MAX): order id, taxi id
-- Reply: {kind = 'done'} | {kind = 'missing'} | {kind = 'gone', status}
local order_key, tried_key = own_keys()
local id, taxi = own_args()
if redis.call('EXISTS', order_key) == 0 then return reply('missing') end
if release_offer(id, order_key, tried_key, taxi, TAXI.decline, 'declined', 0) then return reply('done') end
return reply('gone', {status = redis.call('HGET', order_key, 'status')})
