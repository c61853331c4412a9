-- Shared by the dispatch scripts (prepended when they are loaded).
-- ARGV[1] is the city's key prefix, `{c:<code>}:`, and ARGV[2] the time (ms). Every key
-- is built from the prefix, so every key carries the city's hash tag and lives in its
-- slot; KEYS[1] is always a key of the city so a Redis Cluster routes the call there.
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local K = {
  states = P .. 'taxis:state', torders = P .. 'taxis:order', free = P .. 'taxis:free',
  pos = P .. 'taxis:pos', fixes = P .. 'taxis:fix', wheelchair = P .. 'taxis:wheelchair',
  caring = P .. 'taxis:caring', missed = P .. 'taxis:missed',
  pending = P .. 'dispatch:pending', scheduled = P .. 'dispatch:scheduled',
  offers = P .. 'dispatch:offers', retry = P .. 'dispatch:retry',
  callbacks = P .. 'dispatch:callbacks', wakeup = P .. 'dispatch:wakeup',
  notify = P .. 'dispatch:notify', events = P .. 'events', stats = P .. 'stats',
}
local function okey(id) return P .. 'order:' .. id end
local function tried_key(id) return P .. 'order:' .. id .. ':tried' end

local function notify(taxi, kind, order, reason)
  redis.call('PUBLISH', K.notify, taxi .. '|' .. kind .. '|' .. (order or '') .. '|' .. (reason or ''))
end

local function wake()
  redis.call('LPUSH', K.wakeup, '1')
  redis.call('LTRIM', K.wakeup, 0, 999)
end

local function split(csv)
  local out = {}
  for item in string.gmatch(csv or '', '[^,]+') do out[#out + 1] = item end
  return out
end

local function without(csv, item)
  local out = {}
  for _, x in ipairs(split(csv)) do if x ~= item then out[#out + 1] = x end end
  return table.concat(out, ',')
end

-- A taxi's last position lives in exactly one geo set: `taxis:free` while it is FREE (and
-- fresh), `taxis:pos` otherwise. Moving it is part of every state change.
local function set_taxi_free(taxi)
  redis.call('HSET', K.states, taxi, 'free')
  local p = redis.call('GEOPOS', K.pos, taxi)[1]
  if p then
    redis.call('GEOADD', K.free, p[1], p[2], taxi)
    redis.call('ZREM', K.pos, taxi)
  end
end

local function leave_free(taxi)
  local p = redis.call('GEOPOS', K.free, taxi)[1]
  if p then
    redis.call('GEOADD', K.pos, p[1], p[2], taxi)
    redis.call('ZREM', K.free, taxi)
  end
end

local function sample(list, value)
  redis.call('LPUSH', P .. 'stats:' .. list, value)
  redis.call('LTRIM', P .. 'stats:' .. list, 0, 9999)
end

local function group(order_key)
  local reason = redis.call('HGET', order_key, 'reason')
  if reason and reason ~= '' then return 'e' end
  return 'o'
end

-- Back to the queue at the order's own score (its priority and age are kept).
local function requeue(order)
  local ok = okey(order)
  redis.call('HSET', ok, 'status', 'pending', 'updated', NOW)
  redis.call('ZADD', K.pending, redis.call('HGET', ok, 'qscore') or NOW, order)
  wake()
end

-- Ends one taxi's offer of an order (declined, expired); the order goes back to the
-- queue when no taxi holds an offer of it any more. False if the offer was not open.
local function release_offer(order, taxi, reason, max_missed)
  local member = order .. '|' .. taxi
  if not redis.call('ZSCORE', K.offers, member) then return false end
  redis.call('ZREM', K.offers, member)
  local ok = okey(order)
  if redis.call('HGET', K.torders, taxi) == order then
    redis.call('HDEL', K.torders, taxi)
    if redis.call('HGET', K.states, taxi) == 'offered' then set_taxi_free(taxi) end
  end
  redis.call('SADD', tried_key(order), taxi)
  redis.call('EXPIRE', tried_key(order), 86400)
  local holders = without(redis.call('HGET', ok, 'holders'), taxi)
  redis.call('HSET', ok, 'holders', holders)
  notify(taxi, 'withdrawn', order, reason)
  redis.call('XADD', K.events, '*', 'type', 'offer_' .. reason, 'order', order, 'taxi', taxi, 'ts', NOW)
  if reason == 'expired' then
    local missed = redis.call('HINCRBY', K.missed, taxi, 1)
    if missed >= max_missed and redis.call('HGET', K.states, taxi) == 'free' then
      leave_free(taxi)
      redis.call('HSET', K.states, taxi, 'off')
      redis.call('HSET', K.missed, taxi, 0)
      notify(taxi, 'signed_off', '', 'missed ' .. missed .. ' offers in a row')
      redis.call('XADD', K.events, '*', 'type', 'taxi_signed_off', 'taxi', taxi, 'from', 'free', 'to', 'off',
        'reason', 'missed_offers', 'ts', NOW)
    end
  else
    redis.call('HSET', K.missed, taxi, 0)
  end
  if holders == '' and redis.call('HGET', ok, 'status') == 'offered' then requeue(order) end
  return true
end

-- Takes every offer of an order back (another taxi won, an operator assigned, cancelled).
local function withdraw_all(order, except, reason, kind)
  local ok = okey(order)
  for _, h in ipairs(split(redis.call('HGET', ok, 'holders'))) do
    if h ~= except then
      redis.call('ZREM', K.offers, order .. '|' .. h)
      if redis.call('HGET', K.torders, h) == order then
        redis.call('HDEL', K.torders, h)
        local st = redis.call('HGET', K.states, h)
        if st == 'offered' or st == 'assigned' then set_taxi_free(h) end
        redis.call('XADD', K.events, '*', 'type', 'taxi_released', 'order', order, 'taxi', h,
          'from', st or '', 'to', 'free', 'reason', reason, 'ts', NOW)
      end
      notify(h, kind, order, reason)
    end
  end
end
