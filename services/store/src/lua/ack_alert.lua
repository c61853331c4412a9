-- Acknowledges an alert (idempotent: a second acknowledgement changes nothing).
-- KEYS: alert hash, open alerts, events
-- ARGV: [1] alert id, [2] operator, [3] note, [4] now ms
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HGET', KEYS[1], 'ack') == '1' then return 'already' end
redis.call('HSET', KEYS[1], 'ack', '1', 'ack_by', ARGV[2], 'ack_ms', ARGV[4], 'note', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'type', 'alert_acknowledged', 'alert', ARGV[1], 'by', ARGV[2], 'ts', ARGV[4])
return 'ok'
