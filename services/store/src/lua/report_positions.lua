#!lua
-- Stores a batch of position fixes in a fixed number of commands whatever its size: a FREE
-- taxi's position goes to the free index (and to the index of each capability it has; a
-- taxi new to the free index also to the free-fix index, at this fix's time), any other
-- on-duty taxi's to the positions index.
-- KEYS: states hash, free geo, positions geo, fix times hash, wheelchair set, caring set,
--   free wheelchair geo, free caring geo, free fix times zset, stand queues zset, taxi → its
--   stand queue member hash, dispatch retries zset
-- ARGV (after NOW): n, oldest fresh fix ms, the fixes in a stand's fence, then n groups of
--   (id, lon, lat, fix ms). The fixes in a fence are named sparsely, as
--   `<fix index>:<stand>=<capacity>,<stand>=<capacity>;...` (the open stands whose fence
--   holds the fix, nearest first; capacity 0: no limit; '' when no fix is in a fence),
--   computed by the caller with `taxi_domain::stands::open_stands_at`: most fixes are in
--   no fence, and an argument per fix cost every fix its parsing.
-- Reply: one code per fix (not JSON, for speed): 0 stored, 1 unknown taxi, 2 off duty,
-- 3 older than the stored fix.
local states, free_geo, pos_geo, fixes, wheelchair, caring, free_wc, free_caring, free_fix,
  stand_q, stand_of, retry = own_keys()
-- Positions are not durable, by choice: they go neither to the AOF nor to replicas. A
-- taxi reports again within seconds, and a fix older than `position_fresh` is never
-- matched anyway; writing every fix to the AOF would make each position call wait for the
-- `appendfsync always` fsync that orders need, and grow the AOF by every fix. After a
-- restart a taxi keeps its state and is matched again from its next fix.
redis.set_repl(redis.REPL_NONE)
local n, fresh = tonumber(ARGV[2]), tonumber(ARGV[3])
local FIRST = 5
local GROUP = 4
-- The fixes in a fence, by index (most are in none).
local in_fence = {}
for i, named in string.gmatch(ARGV[4], '(%d+):([^;]+)') do in_fence[tonumber(i)] = named end
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + (i - 1) * GROUP] end
-- A batch names each taxi once (the caller keeps a taxi's newest fix of a batch), so no
-- fix here is checked against another of the same batch.
local state_of = mcall('HMGET', states, ids)
local stored = mcall('HMGET', fixes, ids)
local FREE, OFF = TS.free, TS.off
local pos, free, fix, codes, back, free_ids, free_fix_args = {}, {}, {}, {}, {}, {}, {}
-- Their lengths, kept by hand: `#t` is a search in Lua 5.1, and this loop appends to them
-- eight times a fix.
local n_pos, n_free, n_fix, n_back, n_free_ids = 0, 0, 0, 0, 0
-- The free taxis whose fix may move them in, out of or between stand queues: in a queue
-- at their stored fix, or now in a fence. Each as {id, fix ms, named stands, index of its
-- fix time in `fix`}.
local queue_cands, n_cands = {}, 0
for i = 1, n do
  local st = state_of[i]
  if not st then
    codes[i] = 1
  elseif st == OFF then
    codes[i] = 2
  else
    local b = FIRST + (i - 1) * GROUP
    local t_arg = ARGV[b + 3]
    local t = tonumber(t_arg)
    local old, was_queued = stored[i], false
    if old then
      old = tonumber(old)
      -- A stored fix time with a half (see the stand queues below) marks a taxi that was
      -- in a stand queue when it was stored.
      local whole = math.floor(old)
      was_queued = whole ~= old
      old = whole
    end
    if old and old > t then
      codes[i] = 3
    else
      codes[i] = 0
      local id = ids[i]
      fix[n_fix + 1] = id; fix[n_fix + 2] = t_arg; n_fix = n_fix + 2
      if st == FREE then
        free[n_free + 1] = ARGV[b + 1]; free[n_free + 2] = ARGV[b + 2]; free[n_free + 3] = id
        n_free = n_free + 3
        n_free_ids = n_free_ids + 1
        free_ids[n_free_ids] = id
        local named = in_fence[i]
        if was_queued or named then
          n_cands = n_cands + 1
          queue_cands[n_cands] = {id, t, named or '', n_fix}
        end
        -- New to the free index (a first fix, or swept out while stale: its position sat
        -- in the positions index): it enters the janitor's index at this fix. A taxi
        -- already there keeps its score (a fix no later than this one), which the janitor
        -- refreshes when it comes due: moving it with every fix would cost a write per fix.
        if not old or old < fresh then
          n_back = n_back + 1
          back[n_back] = id
          free_fix_args[2 * n_back - 1] = t; free_fix_args[2 * n_back] = id
        end
      else
        pos[n_pos + 1] = ARGV[b + 1]; pos[n_pos + 2] = ARGV[b + 2]; pos[n_pos + 3] = id
        n_pos = n_pos + 3
      end
    end
  end
end
if #pos > 0 then mcall('GEOADD', pos_geo, pos) end
if #free > 0 then
  mcall('GEOADD', free_geo, free)
  local is_wc = mcall('SMISMEMBER', wheelchair, free_ids)
  local is_caring = mcall('SMISMEMBER', caring, free_ids)
  local wc_args, caring_args = {}, {}
  -- Copies the i-th free (lon, lat, id) into `into`.
  local function copy(into, i)
    into[#into + 1] = free[i * 3 - 2]; into[#into + 1] = free[i * 3 - 1]; into[#into + 1] = free[i * 3]
  end
  for i = 1, #free_ids do
    if is_wc[i] == 1 then copy(wc_args, i) end
    if is_caring[i] == 1 then copy(caring_args, i) end
  end
  if #wc_args > 0 then mcall('GEOADD', free_wc, wc_args) end
  if #caring_args > 0 then mcall('GEOADD', free_caring, caring_args) end
end
if #back > 0 then
  mcall('ZREM', pos_geo, back)
  mcall('ZADD', free_fix, free_fix_args)
  -- A free taxi matchable again (signed on, or fresh after going stale): the orders waiting
  -- for a taxi are due now, so the sweeper brings them back within its interval, in queue
  -- order, rather than at their next retry (issue 15). Rare, so this one write is
  -- replicated (the AOF must not hold a later due time than the server).
  local first = redis.call('ZRANGE', retry, 0, 0, 'WITHSCORES')
  if first[1] and tonumber(first[2]) > NOW then
    redis.set_repl(redis.REPL_ALL)
    redis.call('ZADD', retry, NOW, first[1])
    redis.set_repl(redis.REPL_NONE)
  end
end
-- Stand queues (the rule is `taxi_domain::stands::queue_step`): a FREE taxi stays in its
-- queue while its fix is in that stand's fence and the stand is open (the stand is named);
-- otherwise it leaves it and joins the first named stand with room, arriving at the fix's
-- time. Writes only on a change. Like positions, these joins and
-- moves are not written to the AOF (a replicated write would make this call wait for the
-- `always` fsync, and about one batch in ten changes a queue: the bench measured ingest
-- halved): after a restart a queue holds what the last AOF rewrite saw, less the taxis
-- that left it since (leaving is replicated, with the state change that causes it), and
-- every taxi's next fix puts it right, at the back. Taxis that are not FREE left their
-- queue in `set_taxi_state`.
-- Which taxis can be in a queue is known without reading the queues: a taxi's fix time
-- is stored with a half added while it is in one (`fixes` values are whole ms otherwise),
-- so only the taxis whose stored fix says so, or whose new fix is in a fence, are looked up
-- in `stand_of`. Reading `stand_of` for the whole batch cost more than the rest of the
-- script: a hash of up to 512 fields stays a listpack, which each lookup scans. The half
-- is set and cleared here with the fix, from the queue the taxi is in after it; a taxi
-- that left its queue with a state change keeps it until its next fix, which only costs
-- that fix a lookup.
if #queue_cands > 0 then
  local look = {}
  for k, c in ipairs(queue_cands) do look[k] = c[1] end
  local got = mcall('HMGET', stand_of, look)
  for k, c in ipairs(queue_cands) do
    local id, t, in_named = c[1], c[2], c[3]
    local member = got[k]
    -- The stands whose fence holds the fix, nearest first, and their capacities.
    local named, order = {}, {}
    for entry in string.gmatch(in_named, '[^,]+') do
      local sid, cap = string.match(entry, '^(.+)=(%d+)$')
      named[sid] = tonumber(cap)
      order[#order + 1] = sid
    end
    local at = member and string.match(member, '^(.-)|')
    if (member or #order > 0) and not (at and named[at]) then
      if member then
        redis.call('ZREM', stand_q, member)
        redis.call('HDEL', stand_of, id)
        member = false
      end
      for _, sid in ipairs(order) do
        local cap = named[sid]
        if cap == 0 or redis.call('ZLEXCOUNT', stand_q, '[' .. sid .. '|', '(' .. sid .. '}') < cap then
          member = sid .. '|' .. string.format('%015d', t) .. '|' .. id
          redis.call('ZADD', stand_q, 0, member)
          redis.call('HSET', stand_of, id, member)
          break
        end
      end
    end
    -- As a string: Lua would print a number with 14 significant digits.
    if member then fix[c[4]] = string.format('%d.5', t) end
  end
end
if #fix > 0 then mcall('HSET', fixes, fix) end
return codes
