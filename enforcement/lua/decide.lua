-- admit_function.lua comes first: the policy service's decisions (enforcement/decide.py
-- documents KEYS, ARGV and the answers). PREFIX and REFUSED are enforcement/counters.py's
-- PREFIX and REFUSED_KEY (a test holds them equal).
local PREFIX, REFUSED = 'lwsmail:rate:', 'lwsmail:rate:refused'
local function decide(ARGV)
local sender, domain, now = ARGV[1], ARGV[2], tonumber(ARGV[7])
local best, best_rank = nil, -1
for _, v in ipairs(redis.call('HMGET', KEYS[1], 'address:' .. sender, 'domain:' .. domain)) do
  if v then
    local b = cjson.decode(v)
    local rank = tonumber(b['rank']) or 0
    -- A timed block whose end has passed no longer stops anything (the lift job removes it).
    if (type(b['e']) ~= 'number' or b['e'] > now) and rank > best_rank then
      best, best_rank = v, rank
    end
  end
end
if best then return {'block', best} end
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[2], sender) == 1 then return {'hold'} end
if ARGV[4] ~= '1' then return {'pass'} end
local found = redis.call('HMGET', KEYS[3], 'mailbox:' .. sender, 'default')
if not found[2] then return {'pass'} end  -- limits never published: nothing to count
local default = cjson.decode(found[2])
local entry = found[1] and cjson.decode(found[1])
local own = entry or default
local counters
if entry then
  counters = {{'mailbox', sender, entry.m}, {'domain', entry.d, entry.dl},
    {'hosting', tostring(entry.h), entry.hl}}
else  -- a mailbox not published yet: the server default on it and its domain
  counters = {{'mailbox', sender, default.m}, {'domain', domain, default.dl}}
end
local instance = ARGV[5]
local per_message = instance ~= '' and (tonumber(own.pm) or 0) or 0
local keys, argv = {}, {ARGV[7], ARGV[8], 1, per_message, #counters}
for i, c in ipairs(counters) do
  keys[i] = PREFIX .. c[1] .. ':' .. string.lower(c[2])
  argv[#argv + 1] = c[3][1]
  argv[#argv + 1] = c[3][2]
end
keys[#keys + 1] = PREFIX .. 'message:' .. (instance ~= '' and instance or 'none')
keys[#keys + 1] = REFUSED
local volume, max_nets, net = tonumber(own.hv) or 0, tonumber(default.hn) or 0, ARGV[6]
if volume > 0 or (net ~= '' and max_nets > 0) then
  keys[#keys + 1] = KEYS[2]
  keys[#keys + 1] = PREFIX .. 'lifted:' .. sender
  for _, a in ipairs({volume, net, max_nets, sender}) do argv[#argv + 1] = a end
end
local result = admit(keys, argv)
local answer = {'admit', tonumber(default.p4) or 24, tonumber(default.p6) or 48}
for _, r in ipairs(result) do answer[#answer + 1] = r end
if result[1] > 0 then
  answer[#answer + 1] = counters[result[1]][1]
  answer[#answer + 1] = counters[result[1]][2]
end
return answer
end
local function fields(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\n', start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end
local answers = {}
for i = 1, #ARGV do
  local ok, answer = pcall(decide, fields(ARGV[i]))
  answers[i] = ok and answer or {'error', tostring(answer)}
end
return answers
