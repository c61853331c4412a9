#!lua
-- Makes the built-in pool hold the configured numbers: new ones join unused, ones no
-- longer configured leave (their live bindings stay until released, and no new trip
-- gets them).
-- KEYS: pool zset
-- ARGV (after NOW): the configured numbers
-- Reply: {kind = 'synced', added, removed}
local pool = own_keys()
local wanted, added, removed = {}, 0, 0
for i = 2, #ARGV do
  wanted[ARGV[i]] = true
  added = added + redis.call('ZADD', pool, 'NX', 0, ARGV[i])
end
for _, x in ipairs(redis.call('ZRANGE', pool, 0, -1)) do
  if not wanted[x] then
    redis.call('ZREM', pool, x)
    removed = removed + 1
  end
end
return reply('synced', {added = added, removed = removed})
