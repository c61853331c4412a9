#!lua
-- Moves FREE taxis whose last fix is older than the bound out of the free index (and its
-- free-fix and capability indexes) into the positions index (hygiene: queries filter stale
-- fixes themselves; the last position is kept). It reads the free-fix index, which holds
-- the free index's taxis only, so the work is the free taxis that may be stale, whatever
-- the number of off-duty or busy taxis. A taxi's score there is the fix it had when it
-- entered the free index or was last looked at here (positions do not move it: that would
-- cost every fix a write), never later than its last fix; a taxi found fresh is given its
-- last fix as score and is looked at again once that goes stale. At most `most` per call;
-- the caller calls again while a call looked at `most`.
-- KEYS: free fix times zset, free geo, positions geo, free wheelchair geo, free caring geo,
--   fix times zset, stand queues zset, taxi → its stand queue member hash
-- ARGV (after NOW): oldest acceptable fix ms, most to look at
-- Reply: {looked at, moved} (integers).
local free_fix, free_geo, pos_geo, free_wc, free_caring, fixes, stand_q, stand_of = own_keys()
local fresh, most = own_args()
fresh = tonumber(fresh)
local due = redis.call('ZRANGE', free_fix, '-inf', '(' .. fresh, 'BYSCORE', 'LIMIT', 0, tonumber(most))
if #due == 0 then return {0, 0} end
local last = mcall('HMGET', fixes, due)
local stale, rescore = {}, {}
for i, id in ipairs(due) do
  local f = last[i] and tonumber(last[i])
  if f and f >= fresh then
    rescore[#rescore + 1] = f; rescore[#rescore + 1] = id
  else
    stale[#stale + 1] = id
  end
end
if #rescore > 0 then mcall('ZADD', free_fix, rescore) end
if #stale > 0 then
  local at = mcall('GEOPOS', free_geo, stale)
  local moves = {}
  for i, id in ipairs(stale) do
    local p = at[i]
    if p then moves[#moves + 1] = p[1]; moves[#moves + 1] = p[2]; moves[#moves + 1] = id end
  end
  if #moves > 0 then mcall('GEOADD', pos_geo, moves) end
  mcall('ZREM', free_geo, stale)
  mcall('ZREM', free_fix, stale)
  mcall('ZREM', free_wc, stale)
  mcall('ZREM', free_caring, stale)
  -- A taxi whose fixes went stale is not waiting at its stand any more: it leaves the queue.
  local members = mcall('HMGET', stand_of, stale)
  local queued = {}
  for i = 1, #stale do
    if members[i] then queued[#queued + 1] = members[i] end
  end
  if #queued > 0 then
    mcall('ZREM', stand_q, queued)
    mcall('HDEL', stand_of, stale)
  end
end
return {#due, #stale}
