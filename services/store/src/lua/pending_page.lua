#!lua flags=no-writes
-- One page of the orders waiting for a taxi, in the order dispatch takes them: first the
-- queue (`q`, by queue score), then the orders with no taxi in reach (`r`, by their next
-- search; they rejoin the queue at their own score then). Work is bounded by the page
-- size (plus the orders sharing the cursor's exact score).
-- KEYS: pending queue, retry set
-- ARGV (after NOW): cursor section ('' for the first page, 'q' or 'r'), cursor score,
--   cursor order id, how many (the page size plus one, to know whether more follow)
-- Reply: {kind = 'page', items = [{s, id, score}]}
local pending, retry = own_keys()
local section, score, after, want = own_args()
want = tonumber(want)
local items = {}
-- Appends members of `key` after (`from`, `after_id`) in (score, id) order.
local function take(key, name, from, after_id)
  local offset = 0
  local lo = '-inf'
  if from then lo = from end
  while #items < want do
    local batch = redis.call('ZRANGE', key, lo, '+inf', 'BYSCORE', 'LIMIT', offset, want, 'WITHSCORES')
    if #batch == 0 then return end
    for i = 1, #batch, 2 do
      local id, sc = batch[i], batch[i + 1]
      if not from or tonumber(sc) > tonumber(from) or id > after_id then
        if #items < want then items[#items + 1] = {s = name, id = id, score = sc} end
      end
    end
    offset = offset + want
  end
end
if section == '' or section == 'q' then
  if section == 'q' then take(pending, 'q', score, after) else take(pending, 'q') end
  take(retry, 'r')
else
  take(retry, 'r', score, after)
end
return reply('page', {items = items})
