#!lua
-- An offer nobody answered by its deadline: released like a decline, and counted against
-- the taxi (signed off after too many in a row).
-- KEYS (after the city's): the order's hash, its tried set
-- ARGV (after NOW, FEED_MAX): order id, taxi id, max missed offers
-- Reply: {kind = 'done'} | {kind = 'gone'} (answered, withdrawn or not yet due)
local order_key, tried_key = own_keys()
local id, taxi, max_missed = own_args()
local deadline = redis.call('ZSCORE', K.offers, id .. '|' .. taxi)
if not deadline or tonumber(deadline) > NOW then return reply('gone') end
release_offer(id, order_key, tried_key, taxi, TAXI.miss_offer, 'expired', tonumber(max_missed))
return reply('done')
