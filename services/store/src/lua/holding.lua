#!lua flags=no-writes
-- What a taxi holds now (its open offer and that offer's deadline, or the order assigned to
-- it), read together with the driver feed's newest id: a stream that starts from the state
-- sends it once, then only notices after that id, so a notice written just before the read
-- is neither lost nor sent twice.
-- KEYS: taxi → held order, open offers, driver feed
-- ARGV (after NOW): taxi id
-- Reply: {kind = 'holding', order = id or '', deadline = ms or -1, seq = newest feed id or ''}
local torders, offers, feed = own_keys()
local taxi = own_args()
local order = redis.call('HGET', torders, taxi) or ''
local deadline = -1
if order ~= '' then
  local d = redis.call('ZSCORE', offers, order .. '|' .. taxi)
  if d then deadline = tonumber(d) end
end
local newest = redis.call('XREVRANGE', feed, '+', '-', 'COUNT', 1)
local seq = ''
if newest[1] then seq = newest[1][1] end
return reply('holding', {order = order, deadline = deadline, seq = seq})
