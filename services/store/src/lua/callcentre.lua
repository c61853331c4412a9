#!lua
-- The call queue (ACD): every call event and seat change is one step of this script, and
-- each step ends by routing (waiting calls to ready seats), so a call is never given to
-- two seats and a seat never holds two calls, whatever runs at once.
-- States and rules come from the prelude (`CST`, `SST`, `CALLEV`, `SEATEV`, `CC`), from
-- `taxi_domain::callcentre`. Records are JSON in two hashes (calls, seats), so routing
-- reads only declared keys.
-- KEYS: calls (hash id -> JSON), seats (hash id -> JSON), queue (zset call -> queue score),
--       ready (zset seat -> ready since ms), assignments (stream), callbacks (the operators'
--       call-back list, zset), events (the audit trail), kpi hour (hash), kpi day (hash),
--       ended (zset call -> ms, for clean-up), the caller's active orders (zset)
-- ARGV (after NOW): op, then by op:
--   arrive   call, phone, elderly (0/1), has live order (0/1), dialect, supervisor (0/1), head start ms
--   answer   call, seat
--   abandon  call
--   transfer call, seat, dialect, supervisor (0/1)
--   finish   call, seat ('' = whoever holds it)
--   seat     seat, event code, dialects (JSON list), supervisor (0/1)
--   resolve  call, operator, outcome
-- Reply: {kind = 'done', repeat, call?, seat?, made = [{call, seat, elderly, seq}], callback}
--      | {kind = 'no_call'} | {kind = 'no_seat'}
--      | {kind = 'call_refused', state, event} | {kind = 'seat_refused', state, event}
--      | {kind = 'other_seat', seat} (the call is with another seat)
--      | {kind = 'unfit'} (the seat lacks a skill the call needs)
--      | {kind = 'no_callback'} (the call has no call-back to resolve)
local calls_key, seats_key, queue_key, ready_key, assign_key, callbacks_key, events_key,
  hour_key, day_key, ended_key, caller_active = own_keys()
local op = ARGV[2]
-- The op's own arguments, after the op.
local function args() return select(2, own_args()) end

local function has(set, code)
  if not code then return false end
  return string.find(set, ',' .. code .. ',', 1, true) ~= nil
end
local function may(e, s) return has(e.from, s) end
local function already(e, s) return has(e.done, s) end

local function load(key, id)
  local raw = redis.call('HGET', key, id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function save(key, id, rec) redis.call('HSET', key, id, cjson.encode(rec)) end

local function audit(kind, ...)
  redis.call('XADD', events_key, '*', 'type', kind, 'ts', NOW, ...)
end

-- KPI counters of group `g` ('e' older callers, 'o' others), this hour and this day.
local function kpi(g, name, by)
  redis.call('HINCRBY', hour_key, g .. ':' .. name, by or 1)
  redis.call('HINCRBY', day_key, g .. ':' .. name, by or 1)
  redis.call('PEXPIRE', hour_key, CC.KPI_HOUR_KEEP_MS)
  redis.call('PEXPIRE', day_key, CC.KPI_DAY_KEEP_MS)
end
local function group(c) if c.e == 1 then return 'e' end return 'o' end
local function bin_of(ms)
  for i = 1, #CC.BIN_EDGES do
    if ms < CC.BIN_EDGES[i] then return i - 1 end
  end
  return #CC.BIN_EDGES - 1
end

-- Calls and seats as replies show them.
local function call_view(id, c)
  c.id = id
  return c
end
local function seat_view(id, s)
  s.id = id
  return s
end

local function forget_ended(id)
  redis.call('ZADD', ended_key, NOW, id)
  local old = redis.call('ZRANGEBYSCORE', ended_key, '-inf', NOW - CC.KEEP_MS, 'LIMIT', 0, 20)
  for _, o in ipairs(old) do
    redis.call('HDEL', calls_key, o)
    redis.call('ZREM', ended_key, o)
  end
end

local function fits(c, s)
  if c.sup == 1 and s.sup ~= 1 then return false end
  if c.dl and c.dl ~= '' then
    for _, d in ipairs(s.dl or {}) do
      if d == c.dl then return true end
    end
    return false
  end
  return true
end

-- Gives call `id` to seat `sid`.
local function offer(id, c, sid, s, made)
  c.st = CALLEV.offer.to
  c.seat = sid
  c.off = NOW
  s.st = SEATEV.take.to
  s.call = id
  s.since = NOW
  redis.call('ZREM', queue_key, id)
  redis.call('ZREM', ready_key, sid)
  save(calls_key, id, c)
  save(seats_key, sid, s)
  local seq = redis.call('XADD', assign_key, 'MAXLEN', '~', CC.ASSIGNMENTS_MAX, '*',
    'call', id, 'seat', sid, 'elderly', c.e, 'ts', NOW)
  audit(CALLEV.offer.audit, 'call', id, 'seat', sid)
  made[#made + 1] = {call = id, seat = sid, elderly = c.e, seq = seq, ts = NOW}
end

-- Routing: the waiting calls in queue order, each to the longest-idle ready seat that
-- fits it (`taxi_domain::callcentre::route`).
local function route()
  local made = {}
  local seat_ids = redis.call('ZRANGE', ready_key, 0, CC.SCAN_SEATS - 1)
  if #seat_ids == 0 then return made end
  local call_ids = redis.call('ZRANGE', queue_key, 0, CC.SCAN_CALLS - 1)
  if #call_ids == 0 then return made end
  local raw = mcall('HMGET', seats_key, seat_ids)
  local seats = {}
  for i, sid in ipairs(seat_ids) do
    if raw[i] then seats[#seats + 1] = {id = sid, rec = cjson.decode(raw[i])} end
  end
  for _, id in ipairs(call_ids) do
    if #seats == 0 then break end
    local c = load(calls_key, id)
    if c then
      for i, s in ipairs(seats) do
        if fits(c, s.rec) then
          offer(id, c, s.id, s.rec, made)
          table.remove(seats, i)
          break
        end
      end
    end
  end
  return made
end

local function done(fields)
  fields.made = fields.made or route()
  fields['repeat'] = fields['repeat'] or false
  return reply('done', fields)
end

-- Puts a seat's ringing, unanswered call back in the queue (the operator stepped away).
local function requeue_ringing(sid, s)
  local c = load(calls_key, s.call)
  if c and may(CALLEV.requeue, c.st) and c.seat == sid then
    c.st = CALLEV.requeue.to
    c.seat = ''
    save(calls_key, s.call, c)
    redis.call('ZADD', queue_key, c.q, s.call)
    audit(CALLEV.requeue.audit, 'call', s.call, 'seat', sid)
  end
  s.call = ''
  s.st = SEATEV.give_back.to
end

if op == 'arrive' then
  local id, phone, elderly, has_order, dialect, sup, head_start = args()
  local c = load(calls_key, id)
  if c then return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}}) end
  local e = tonumber(elderly)
  local q = NOW - e * tonumber(head_start)
  c = {st = CST.cq, ph = phone, e = e, ord = tonumber(has_order), dl = dialect,
    sup = tonumber(sup), arr = NOW, q = q, seat = '', tf = ''}
  save(calls_key, id, c)
  redis.call('ZADD', queue_key, q, id)
  kpi(group(c), 'arr')
  audit(AUDIT.call_arrived, 'call', id, 'elderly', e)
  local made = route()
  return done({call = call_view(id, load(calls_key, id)), made = made})
end

if op == 'answer' then
  local id, sid = args()
  local c = load(calls_key, id)
  if not c then return reply('no_call') end
  local s = load(seats_key, sid)
  if not s then return reply('no_seat') end
  if already(CALLEV.answer, c.st) then
    if c.seat == sid then return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}}) end
    return reply('other_seat', {seat = c.seat})
  end
  if not may(CALLEV.answer, c.st) then
    return reply('call_refused', {state = c.st, event = 'answer'})
  end
  if c.st == CST.co then
    if c.seat ~= sid then return reply('other_seat', {seat = c.seat}) end
  else
    -- A queued call taken by a ready seat directly.
    if not may(SEATEV.take, s.st) then
      return reply('seat_refused', {state = s.st, event = 'take'})
    end
    if not fits(c, s) then return reply('unfit') end
    redis.call('ZREM', queue_key, id)
    redis.call('ZREM', ready_key, sid)
    s.st = SEATEV.take.to
    s.call = id
    s.since = NOW
    save(seats_key, sid, s)
  end
  c.st = CALLEV.answer.to
  c.seat = sid
  local wait = NOW - c.arr
  if not c.ans then
    -- The first answer counts (a transferred call answered again does not).
    c.ans = NOW
    local g = group(c)
    kpi(g, 'ans')
    kpi(g, 'sum', wait)
    kpi(g, 'b' .. bin_of(wait))
    if wait <= CC.SERVICE_LEVEL_MS then kpi(g, 'sl') end
  end
  save(calls_key, id, c)
  audit(CALLEV.answer.audit, 'call', id, 'seat', sid, 'wait_ms', wait)
  return reply('done', {['repeat'] = false, call = call_view(id, c), seat = seat_view(sid, s), made = {}})
end

if op == 'abandon' then
  local id = args()
  local c = load(calls_key, id)
  if not c then return reply('no_call') end
  if already(CALLEV.abandon, c.st) then
    return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}, callback = c.cb ~= nil and c.cb ~= cjson.null})
  end
  if not may(CALLEV.abandon, c.st) then
    return reply('call_refused', {state = c.st, event = 'abandon'})
  end
  redis.call('ZREM', queue_key, id)
  if c.st == CST.co and c.seat ~= '' then
    local s = load(seats_key, c.seat)
    if s and s.call == id then
      s.call = ''
      s.st = SEATEV.give_back.to
      s.since = NOW
      save(seats_key, c.seat, s)
      redis.call('ZADD', ready_key, s.idle or NOW, c.seat)
    end
  end
  c.st = CALLEV.abandon.to
  c.fin = NOW
  local g = group(c)
  if not c.ans then kpi(g, 'abn') end
  local callback = c.e == 1 or redis.call('ZCARD', caller_active) > 0
  if callback then
    c.cb = CBS.open
    redis.call('ZADD', callbacks_key, NOW, CC.CALLBACK_PREFIX .. id)
    kpi(g, 'cbr')
  else
    forget_ended(id)
  end
  save(calls_key, id, c)
  audit(CALLEV.abandon.audit, 'call', id, 'waited_ms', NOW - c.arr)
  return done({call = call_view(id, c), callback = callback})
end

if op == 'transfer' then
  local id, sid, dialect, sup = args()
  local c = load(calls_key, id)
  if not c then return reply('no_call') end
  if not load(seats_key, sid) then return reply('no_seat') end
  if already(CALLEV.transfer, c.st) and c.tf == sid then
    return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}})
  end
  if not may(CALLEV.transfer, c.st) then
    return reply('call_refused', {state = c.st, event = 'transfer'})
  end
  if c.seat ~= sid then return reply('other_seat', {seat = c.seat}) end
  local s = load(seats_key, sid)
  s.st = SEATEV.release.to
  s.call = ''
  s.since = NOW
  save(seats_key, sid, s)
  c.st = CALLEV.transfer.to
  c.tf = sid
  c.seat = ''
  c.dl = dialect
  c.sup = tonumber(sup)
  save(calls_key, id, c)
  redis.call('ZADD', queue_key, c.q, id)
  audit(CALLEV.transfer.audit, 'call', id, 'seat', sid)
  local made = route()
  return done({call = call_view(id, load(calls_key, id)), made = made})
end

if op == 'finish' then
  local id, sid = args()
  local c = load(calls_key, id)
  if not c then return reply('no_call') end
  if sid ~= '' and not load(seats_key, sid) then return reply('no_seat') end
  if already(CALLEV.finish, c.st) then
    if sid ~= '' and c.seat ~= sid then return reply('other_seat', {seat = c.seat}) end
    return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}})
  end
  if not may(CALLEV.finish, c.st) then
    return reply('call_refused', {state = c.st, event = 'end'})
  end
  if sid ~= '' and c.seat ~= sid then return reply('other_seat', {seat = c.seat}) end
  local s = load(seats_key, c.seat)
  if s and s.call == id then
    s.st = SEATEV.release.to
    s.call = ''
    s.since = NOW
    save(seats_key, c.seat, s)
  end
  c.st = CALLEV.finish.to
  c.fin = NOW
  save(calls_key, id, c)
  forget_ended(id)
  audit(CALLEV.finish.audit, 'call', id, 'seat', c.seat, 'talk_ms', NOW - (c.ans or NOW))
  return reply('done', {['repeat'] = false, call = call_view(id, c), made = {}})
end

if op == 'seat' then
  local sid, code, dialects, sup = args()
  local e = SEATEV[code]
  if not e then return redis.error_reply('callcentre.lua: unknown seat event ' .. tostring(code)) end
  local s = load(seats_key, sid)
  if not s then
    if e ~= SEATEV.log_in then return reply('no_seat') end
    s = {st = SST.s_out, call = '', since = NOW}
  end
  if e == SEATEV.log_in and s.st == SST.s_out then
    s.dl = cjson.decode(dialects)
    s.sup = tonumber(sup)
  end
  if already(e, s.st) then
    return reply('done', {['repeat'] = true, seat = seat_view(sid, s), made = {}})
  end
  if s.st == SST.s_busy and has(CC.LEAVES_RINGING, code) then
    local c = load(calls_key, s.call)
    if c and c.st == CST.co then requeue_ringing(sid, s) end
  end
  if not may(e, s.st) then
    return reply('seat_refused', {state = s.st, event = code})
  end
  s.st = e.to
  s.since = NOW
  if e.to == SST.s_ready then
    s.idle = NOW
    redis.call('ZADD', ready_key, NOW, sid)
  else
    redis.call('ZREM', ready_key, sid)
  end
  save(seats_key, sid, s)
  audit(e.audit, 'seat', sid, 'to', e.to)
  local made = route()
  return done({seat = seat_view(sid, load(seats_key, sid)), made = made})
end

if op == 'resolve' then
  local id, operator, outcome = args()
  local c = load(calls_key, id)
  if not c then return reply('no_call') end
  if not c.cb then return reply('no_callback') end
  if already(CALLBACK.resolve, c.cb) then
    return reply('done', {['repeat'] = true, call = call_view(id, c), made = {}})
  end
  if not may(CALLBACK.resolve, c.cb) then return reply('no_callback') end
  c.cb = CALLBACK.resolve.to
  c.cb_by = operator
  c.cb_ms = NOW
  c.cb_outcome = outcome
  save(calls_key, id, c)
  redis.call('ZREM', callbacks_key, CC.CALLBACK_PREFIX .. id)
  local g = group(c)
  kpi(g, 'cbd')
  if NOW - c.fin <= CC.CALLBACK_PROMPT_MS then kpi(g, 'cbp') end
  forget_ended(id)
  audit(AUDIT.call_callback_resolved, 'call', id, 'by', operator)
  return reply('done', {['repeat'] = false, call = call_view(id, c), made = {}})
end

return redis.error_reply('callcentre.lua: unknown op ' .. tostring(op))
