#!lua
-- Registers a taxi unless its plate is taken. It starts off duty.
-- KEYS: plates hash, the taxi's hash, states hash, wheelchair set, caring set, events,
--   taxis per state
-- ARGV (after NOW): taxi id, plate, driver, colour, wheelchair (0/1), tags csv, caring (0/1),
--   the driver's phone ('' if none)
-- Reply: {kind = 'registered'} | {kind = 'plate_taken', taxi}
local plates, taxi_key, states, wheelchair, caring, events, state_n = own_keys()
local id, plate, driver, color, wc, tags, in_caring, phone = own_args()
local taken = redis.call('HGET', plates, plate)
if taken then return reply('plate_taken', {taxi = taken}) end
redis.call('HSET', plates, plate, id)
redis.call('HSET', taxi_key, 'plate', plate, 'driver', driver, 'color', color, 'wc', wc, 'tags', tags,
  'reg', NOW)
if phone ~= '' then redis.call('HSET', taxi_key, 'phone', phone) end
redis.call('HSET', states, id, TS.off)
redis.call('HINCRBY', state_n, TS.off, 1)
if wc == '1' then redis.call('SADD', wheelchair, id) end
if in_caring == '1' then redis.call('SADD', caring, id) end
redis.call('XADD', events, '*', 'type', AUDIT.taxi_registered, 'taxi', id, 'ts', NOW)
return reply('registered')
