#!lua
-- A walk-up passenger boards a taxi waiting in a stand's queue (an attendant records it):
-- the taxi starts a street-hail trip (OCCUPIED), which takes it out of the queue, and the
-- ride is counted as a stand ride. The head boards unless a taxi is named.
-- KEYS (after the city's): none
-- ARGV (after NOW, FEED_MAX): stand id, taxi id ('' for the head of the queue)
-- Reply: {kind = 'boarded', taxi, waited_ms} | {kind = 'empty'} | {kind = 'not_queued', taxi}
--      | {kind = 'refused', taxi, state}
local stand, taxi = own_args()
local member
if taxi == '' then
  -- The head: the first member its taxi still names (an orphan, left before a restart
  -- after the last AOF rewrite, is dropped: see `report_positions.lua`).
  local queue = redis.call('ZRANGE', K.stand_q, '[' .. stand .. '|', '(' .. stand .. '}', 'BYLEX', 'LIMIT', 0, 16)
  for _, m in ipairs(queue) do
    local t = string.match(m, '|([^|]+)$')
    if redis.call('HGET', K.stand_of, t) == m then
      member, taxi = m, t
      break
    end
    redis.call('ZREM', K.stand_q, m)
  end
  if not member then return reply('empty') end
else
  member = redis.call('HGET', K.stand_of, taxi)
  if not member or string.match(member, '^(.-)|') ~= stand then
    return reply('not_queued', {taxi = taxi})
  end
end
local event = TAXI.start_street_hail
local st = redis.call('HGET', K.states, taxi) or TS.off
if not may(event, st) or redis.call('HEXISTS', K.torders, taxi) == 1 then
  return reply('refused', {taxi = taxi, state = st})
end
local since = tonumber(string.match(member, '|(%d+)|'))
set_taxi_state(taxi, event.to)
redis.call('HINCRBY', K.stats, 'stand_rides', 1)
audit(event.audit, 'taxi', taxi, 'from', st, 'to', event.to, 'stand', stand)
return reply('boarded', {taxi = taxi, waited_ms = math.max(0, NOW - since)})
