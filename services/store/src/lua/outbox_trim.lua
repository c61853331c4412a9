#!lua
-- Retention of the outbox: entries older than the cutoff go (`XTRIM MINID ~`, whole
-- stream nodes), but never one the sender group has not finished: the floor is the
-- oldest entry still pending (read, not acknowledged: in delivery, waiting for a retry,
-- or left by a dead worker) and the first entry after the group's last delivered one
-- (everything from there on is not read yet). Without the group (no sender ever ran) only the cutoff counts.
-- KEYS: the outbox stream
-- ARGV (after NOW): group, cutoff (a stream id, `<ms>-0`)
-- Reply: {kind = 'trimmed', deleted}
local outbox = own_keys()
local group, cutoff = own_args()
if redis.call('EXISTS', outbox) == 0 then return reply('trimmed', {deleted = 0}) end
local function parse(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local floor = cutoff
for _, g in ipairs(redis.call('XINFO', 'GROUPS', outbox)) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == group then
    -- Entries after the last delivered one are unread; those up to it were read, and
    -- the unacknowledged among them are pending (below).
    local last = info['last-delivered-id']
    if last then
      local ms, seq = parse(last)
      local next_unread = ms .. '-' .. (seq + 1)
      if before(next_unread, floor) then floor = next_unread end
    end
    local p = redis.call('XPENDING', outbox, group)
    if p[1] > 0 and p[2] and before(p[2], floor) then floor = p[2] end
  end
end
return reply('trimmed', {deleted = redis.call('XTRIM', outbox, 'MINID', '~', floor)})
