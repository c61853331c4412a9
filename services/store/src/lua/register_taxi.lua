-- Registers a taxi unless its plate is taken.
-- KEYS: plates, taxi hash, states, wheelchair set, caring set, events
-- ARGV: id, plate, driver, color, wheelchair (0/1), tags csv, now_ms, caring (0/1)
local taken = redis.call('HGET', KEYS[1], ARGV[2])
if taken then return {'exists', taken} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'plate', ARGV[2], 'driver', ARGV[3], 'color', ARGV[4],
  'wc', ARGV[5], 'tags', ARGV[6], 'reg', ARGV[7])
redis.call('HSET', KEYS[3], ARGV[1], 'off')
if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[1]) end
if ARGV[8] == '1' then redis.call('SADD', KEYS[5], ARGV[1]) end
redis.call('XADD', KEYS[6], '*', 'type', 'taxi_registered', 'taxi', ARGV[1], 'ts', ARGV[7])
return {'ok', ARGV[1]}
