-- Everything the screen pop (and the phone switch) shows for a number, in one round trip:
-- the caller's profile, devices, newest order ids, active order ids, and those orders.
-- KEYS: caller hash
-- ARGV: entity prefix, phone, how many recent orders
local base = ARGV[1] .. 'caller:' .. ARGV[2]
local profile = redis.call('HGETALL', KEYS[1])
if #profile == 0 then return {{}, {}, {}, {}, {}} end
local devices = redis.call('SMEMBERS', base .. ':devices')
local recent = {}
local n = tonumber(ARGV[3])
if n > 0 then recent = redis.call('ZRANGE', base .. ':orders', 0, n - 1, 'REV') end
local active = redis.call('ZRANGE', base .. ':active', 0, -1)
local seen, orders = {}, {}
for _, list in ipairs({recent, active}) do
  for _, id in ipairs(list) do
    if not seen[id] then
      seen[id] = true
      orders[#orders + 1] = redis.call('HGETALL', ARGV[1] .. 'order:' .. id)
    end
  end
end
return {profile, devices, recent, active, orders}
