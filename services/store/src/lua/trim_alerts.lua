#!lua
-- The retention pass over resolved alerts: deletes each one resolved before the cutoff
-- and takes it off the list of all alerts (and its device's pointer to its last alert).
-- An alert that is not resolved is never deleted.
-- KEYS: resolved alerts, all alerts, then per alert: its hash, its device's hash
-- ARGV (after NOW): cutoff ms, then the alert ids (in the order of their keys)
-- Reply: {kind = 'trimmed', deleted = n}
local resolved, all = KEYS[1], KEYS[2]
local cutoff = tonumber(ARGV[2])
local deleted = 0
for i = 3, #ARGV do
  local base = 3 + (i - 3) * 2
  local id, alert_key, device_key = ARGV[i], KEYS[base], KEYS[base + 1]
  local at = redis.call('ZSCORE', resolved, id)
  if at and tonumber(at) <= cutoff then
    local st = redis.call('HGET', alert_key, 'state')
    if st == ALS.resolved or not st then
      redis.call('DEL', alert_key)
      redis.call('ZREM', all, id)
      if redis.call('HGET', device_key, 'alert') == id then
        redis.call('HDEL', device_key, 'alert', 'alert_ms')
      end
      deleted = deleted + 1
    end
    redis.call('ZREM', resolved, id)
  end
end
return reply('trimmed', {deleted = deleted})
