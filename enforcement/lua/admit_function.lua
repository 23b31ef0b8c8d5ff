-- The counting (enforcement/counters.py documents KEYS, ARGV and the answer): a function
-- that admit.lua runs alone (the panel, Rspamd) and decide.lua calls for each request.
local function admit(KEYS, ARGV)
local now = tonumber(ARGV[1])
-- Scores are whole milliseconds: Redis keeps small sorted sets as listpacks, where an
-- integer score compares several times faster than a decimal one.
local t = math.floor(now * 1000)
local HOUR, DAY = 3600000, 86400000
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
if per_message > 0 then
  local so_far = tonumber(redis.call('GET', message) or '0')
  if so_far + n > per_message then
    return {0, 'message', per_message, '0'}
  end
end
local detect = 6 + 2 * counters
local volume, since, hold = 0, 0, nil
if ARGV[detect] then
  local net, max_nets = ARGV[detect + 1], tonumber(ARGV[detect + 2])
  local nets, holds, lifted = KEYS[counters + 3], KEYS[counters + 4], KEYS[counters + 5]
  local box = ARGV[detect + 3]
  volume = tonumber(ARGV[detect])
  -- What came before the password was last changed is not the new password's doing.
  since = math.floor(1000 * math.max(now - 3600, tonumber(redis.call('GET', lifted) or '0')))
  hold = function(why, seen, limit)
    local entry = cjson.encode({t = member, at = now, why = why, n = seen, max = limit,
      nets = redis.call('ZRANGE', nets, 0, -1)})
    return {-2, why, seen, limit, redis.call('HSETNX', holds, box, entry), entry}
  end
  if net ~= '' and max_nets > 0 then
    redis.call('ZADD', nets, t, net)
    redis.call('ZREMRANGEBYSCORE', nets, '-inf', since)
    redis.call('EXPIRE', nets, 3601)
    local seen = redis.call('ZCARD', nets)
    if seen > max_nets then return hold('networks', seen, max_nets) end
  end
end
for i = 1, counters do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', t - DAY)
  local hour = tonumber(ARGV[4 + 2 * i])
  local day = tonumber(ARGV[5 + 2 * i])
  if day > 0 then
    local used = redis.call('ZCARD', key)
    if used + n > day then
      if n > day then return refuse(i, 'day', day, '0') end
      local at = redis.call('ZRANGE', key, used + n - day - 1, used + n - day - 1, 'WITHSCORES')
      return refuse(i, 'day', day, tostring((tonumber(at[2]) + DAY) / 1000))
    end
  end
  if hour > 0 then
    local since = '(' .. tostring(t - HOUR)
    local used = redis.call('ZCOUNT', key, since, '+inf')
    if used + n > hour then
      if n > hour then return refuse(i, 'hour', hour, '0') end
      local at = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT',
        used + n - hour - 1, 1)
      return refuse(i, 'hour', hour, tostring((tonumber(at[2]) + HOUR) / 1000))
    end
  end
end
-- Within its limits, a mailbox sending far above its usual volume is held.
if volume > 0 then
  local used = redis.call('ZCOUNT', KEYS[1], '(' .. tostring(since), '+inf')
  if used + n > volume then return hold('volume', used + n, volume) end
end
for i = 1, counters do
  local args = {}
  for j = 1, n do
    args[#args + 1] = t
    args[#args + 1] = member .. ':' .. j
  end
  redis.call('ZADD', KEYS[i], unpack(args))
  redis.call('EXPIRE', KEYS[i], 86401)
end
if per_message > 0 then
  redis.call('INCRBY', message, n)
  redis.call('EXPIRE', message, 3600)
end
return {-1}
end
