-- Registers (or re-registers) a one-key device to its owner.
-- KEYS: device hash, owner caller hash, owner devices set, events
-- ARGV: [1] device id, [2] owner phone, [3] now ms, [4] owner name if new, then field/value pairs
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[2] then return {'taken', owner} end
local fields = {'owner', ARGV[2], 'updated', ARGV[3]}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('HSETNX', KEYS[1], 'created', ARGV[3])
if redis.call('HSETNX', KEYS[2], 'created', ARGV[3]) == 1 then
  redis.call('HSET', KEYS[2], 'name', ARGV[4], 'updated', ARGV[3])
end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'type', 'device_registered', 'device', ARGV[1], 'ts', ARGV[3])
return {owner and 'updated' or 'created'}
