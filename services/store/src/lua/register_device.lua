#!lua
-- Registers (or re-registers) a one-key device to its owner, creating the owner's
-- profile if the number is new.
-- KEYS: the device's hash, the owner's caller hash, the owner's devices set, events
-- ARGV (after NOW): device id, owner phone, owner name if new, then field/value pairs
-- Reply: {kind = 'created' | 'updated' | 'taken'}
local device_key, caller_key, devices_key, events = own_keys()
local id, owner_phone, owner_name = ARGV[2], ARGV[3], ARGV[4]
local FIELDS = 5
local owner = redis.call('HGET', device_key, 'owner')
if owner and owner ~= owner_phone then return reply('taken') end
local fields = {'owner', owner_phone, 'updated', NOW}
for i = FIELDS, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', device_key, unpack(fields))
redis.call('HSETNX', device_key, 'created', NOW)
if redis.call('HSETNX', caller_key, 'created', NOW) == 1 then
  redis.call('HSET', caller_key, 'name', owner_name, 'updated', NOW)
end
redis.call('SADD', devices_key, id)
redis.call('XADD', events, '*', 'type', AUDIT.device_registered, 'device', id, 'ts', NOW)
if owner then return reply('updated') end
return reply('created')
