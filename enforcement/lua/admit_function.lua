-- The counting (enforcement/counters.py documents KEYS, ARGV and the answer): a function
-- that admit.lua runs alone (the panel, Rspamd) and decide.lua calls for each request.
--
-- A counter is a hash of buckets, sized by its sender's activity, not by its recipients:
-- field M (minutes since the epoch) holds the recipients of that minute, field -H (hours
-- since the epoch, negated) those of that hour. A minute counts in the hourly window while
-- it is one of the 61 latest (its own and the 60 after it: a recipient counts for an hour
-- after the end of its minute), an hour in the daily window while it is one of the 25
-- latest (a day after the end of its hour). Edges move by the minute (by the hour for the
-- day), never let more than the limit through within any real hour or day, and a place
-- frees up at the start of a minute (of an hour), which "sending resumes at" names.
--
-- Fields h and d hold the two windows' sums as of minute cm and hour ch: a busy domain's
-- counter is brought up to date by subtracting the few buckets that left since (HMGET),
-- not by reading its 86 buckets at every call. A mailbox's counter, small, is read whole
-- when detection needs its client networks ("n<network>": the minute last seen).
local MINUTES, HOURS = 60, 24
local function admit(KEYS, ARGV)
local now = tonumber(ARGV[1])
local M, H = math.floor(now / 60), math.floor(now / 3600)
local member = ARGV[2]
local n = tonumber(ARGV[3])
local per_message = tonumber(ARGV[4])
local counters = tonumber(ARGV[5])
local message = KEYS[counters + 1]
local refused = KEYS[counters + 2]
local function refuse(i, window, limit, at)
  redis.call('ZADD', refused, now, KEYS[i])
  return {i, window, limit, at}
end
-- Every field of a counter, converting one of the release before buckets (a sorted set,
-- one member per recipient scored in milliseconds) into its buckets, once.
local function fields(key)
  local raw = redis.pcall('HGETALL', key)
  if not raw.err then return raw end
  local old = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  redis.call('DEL', key)
  for i = 2, #old, 2 do
    local ms = tonumber(old[i])
    redis.call('HINCRBY', key, math.floor(ms / 60000), 1)
    redis.call('HINCRBY', key, -math.floor(ms / 3600000), 1)
  end
  redis.call('EXPIRE', key, 90001)
  return redis.call('HGETALL', key)
end
-- A counter read whole as of (mm, hh): its sums, stale fields deleted (stored sums too).
-- Returns {in_hour, in_day, networks, minute, hour, fields, keeps sums, buckets gone}.
local function load_whole(key, mm, hh)
  local raw = fields(key)
  local networks, stale = {}, nil
  local in_hour, in_day = 0, 0
  for i = 1, #raw, 2 do
    local name = raw[i]
    local at, count = tonumber(name), tonumber(raw[i + 1])
    local kept = false  -- the stored sums go: a counter read whole keeps none
    if at == nil then
      if string.sub(name, 1, 1) == 'n' then
        kept = mm - count <= MINUTES
        if kept then networks[name] = count end
      end
    elseif at >= 0 then
      kept = mm - at <= MINUTES
      if kept then in_hour = in_hour + count end
    else
      kept = hh + at <= HOURS
      if kept then in_day = in_day + count end
    end
    if not kept then
      stale = stale or {}
      stale[#stale + 1] = name
    end
  end
  if stale then redis.call('HDEL', key, unpack(stale)) end
  return {in_hour, in_day, networks, mm, hh, raw, false}
end
-- A counter brought up to date from its stored sums (read whole when it has none, or was
-- idle longer than a window).
local function load_sums(key)
  local s = redis.pcall('HMGET', key, 'h', 'd', 'cm', 'ch')
  if s.err or not s[4] then
    local c = load_whole(key, M, H)
    c[7] = true
    return c
  end
  local in_hour, in_day = tonumber(s[1]), tonumber(s[2])
  local cm, ch = tonumber(s[3]), tonumber(s[4])
  local mm, hh = math.max(M, cm), math.max(H, ch)
  if mm - cm > MINUTES + 1 or hh - ch > HOURS + 1 then
    local c = load_whole(key, mm, hh)
    c[7] = true
    return c
  end
  -- The buckets that left the windows since: subtracted now, deleted when it counts.
  local gone = {}
  for at = cm - MINUTES, mm - MINUTES - 1 do gone[#gone + 1] = at end
  for at = ch - HOURS, hh - HOURS - 1 do gone[#gone + 1] = -at end
  if #gone > 0 then
    local counts = redis.call('HMGET', key, unpack(gone))
    for i, at in ipairs(gone) do
      local count = tonumber(counts[i] or '0')
      if at >= 0 then in_hour = in_hour - count else in_day = in_day - count end
    end
  end
  return {in_hour, in_day, nil, mm, hh, nil, true, gone}
end
-- When the oldest buckets of a counter's window, holding `excess` recipients, leave it
-- (seconds): read only to answer a refusal.
local function frees(c, key, hourly, excess)
  local raw = c[6] or redis.call('HGETALL', key)
  local buckets = {}
  for i = 1, #raw, 2 do
    local at = tonumber(raw[i])
    if at ~= nil and (at >= 0) == hourly then
      local start = hourly and at or -at
      if (hourly and c[4] - start <= MINUTES) or (not hourly and c[5] - start <= HOURS) then
        buckets[#buckets + 1] = {start, tonumber(raw[i + 1])}
      end
    end
  end
  table.sort(buckets, function(a, b) return a[1] < b[1] end)
  local span, size = MINUTES, 60
  if not hourly then span, size = HOURS, 3600 end
  local freed = 0
  for _, bucket in ipairs(buckets) do
    freed = freed + bucket[2]
    if freed >= excess then return tostring((bucket[1] + span + 1) * size) end
  end
  return '0'
end
if per_message > 0 then
  local so_far = tonumber(redis.call('GET', message) or '0')
  if so_far + n > per_message then
    return {0, 'message', per_message, '0'}
  end
end
local detect = 6 + 2 * counters
local detecting = ARGV[detect] ~= nil
local loaded = {}
local function counter(i)
  if not loaded[i] then
    if i == 1 and detecting then
      loaded[i] = load_whole(KEYS[i], M, H)
    else
      loaded[i] = load_sums(KEYS[i])
    end
  end
  return loaded[i]
end
local volume, lifted_minute, hold = 0, -1, nil
if detecting then
  -- The first counter is the mailbox's: its client networks live in it too.
  local net, max_nets = ARGV[detect + 1], tonumber(ARGV[detect + 2])
  local holds, lifted = KEYS[counters + 3], KEYS[counters + 4]
  local box = ARGV[detect + 3]
  volume = tonumber(ARGV[detect])
  -- What came before the password was last changed is not the new password's doing: the
  -- minutes after the change's minute count (recipients for the volume, networks).
  lifted_minute = math.floor(tonumber(redis.call('GET', lifted) or '0') / 60)
  local function recent_networks()
    local out = {}
    for name, minute in pairs(counter(1)[3]) do
      if minute > lifted_minute then out[#out + 1] = string.sub(name, 2) end
    end
    table.sort(out)
    return out
  end
  hold = function(why, seen, limit)
    local entry = cjson.encode({t = member, at = now, why = why, n = seen, max = limit,
      nets = recent_networks()})
    return {-2, why, seen, limit, redis.call('HSETNX', holds, box, entry), entry}
  end
  if net ~= '' and max_nets > 0 then
    counter(1)
    if redis.call('HSET', KEYS[1], 'n' .. net, M) == 1 then
      redis.call('EXPIRE', KEYS[1], 90001)  -- held before it ever counted: it still goes
    end
    counter(1)[3]['n' .. net] = M
    local seen = #recent_networks()
    if seen > max_nets then return hold('networks', seen, max_nets) end
  end
end
for i = 1, counters do
  local c = counter(i)
  local in_hour, in_day = c[1], c[2]
  local hour = tonumber(ARGV[4 + 2 * i])
  local day = tonumber(ARGV[5 + 2 * i])
  if day > 0 and in_day + n > day then
    if n > day then return refuse(i, 'day', day, '0') end
    return refuse(i, 'day', day, frees(c, KEYS[i], false, in_day + n - day))
  end
  if hour > 0 and in_hour + n > hour then
    if n > hour then return refuse(i, 'hour', hour, '0') end
    return refuse(i, 'hour', hour, frees(c, KEYS[i], true, in_hour + n - hour))
  end
end
-- Within its limits, a mailbox sending far above its usual volume is held.
if volume > 0 then
  local c, used = counter(1), 0
  local raw = c[6]
  for i = 1, #raw, 2 do
    local at = tonumber(raw[i])
    if at ~= nil and at >= 0 and at > lifted_minute and c[4] - at <= MINUTES then
      used = used + tonumber(raw[i + 1])
    end
  end
  if used + n > volume then return hold('volume', used + n, volume) end
end
for i = 1, counters do
  local c = counter(i)
  local in_hour, in_day = c[1], c[2]
  -- A recipient whose minute (hour) already left the window as of the counter's latest
  -- time (a replay of the past, a clock behind) is counted where it still counts only.
  if c[4] - M <= MINUTES then
    redis.call('HINCRBY', KEYS[i], M, n)
    in_hour = in_hour + n
  end
  if c[5] - H <= HOURS then
    if redis.call('HINCRBY', KEYS[i], -H, n) == n then
      -- A new hour: the counter lives until this hour leaves the daily window, 25 hours
      -- after its start (later calls of the hour need not say it again).
      redis.call('EXPIRE', KEYS[i], 90001)
    end
    in_day = in_day + n
  end
  if c[7] then
    if c[8] and #c[8] > 0 then redis.call('HDEL', KEYS[i], unpack(c[8])) end
    redis.call('HSET', KEYS[i], 'h', in_hour, 'd', in_day, 'cm', c[4], 'ch', c[5])
  end
end
if per_message > 0 then
  redis.call('INCRBY', message, n)
  redis.call('EXPIRE', message, 3600)
end
return {-1}
end
