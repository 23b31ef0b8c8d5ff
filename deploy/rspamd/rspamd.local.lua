-- lwsmail: refuse the senders the panel has blocked, also where the policy service is
-- never asked (a website script's sendmail, through non_smtpd_milters).
--
-- The panel keeps the Redis hash "lwsmail:rspamd:blocked": field a blocked address or
-- domain (lower case), value its L-SPAM code ("L-SPAM20"), or for a timed block the code
-- and its end ("L-SPAM00 until 2026-11-29 10:20:00 UTC"). One HMGET per message asks for
-- the authenticated user, the envelope sender and their domains. The strongest standing
-- code wins (LWS's codes sort by severity), as at the policy service; a timed block whose
-- end has passed is ignored even before the panel's lift job removes it. The code is the
-- symbol's option, which the panel reads to record the message as "blocked".
local lua_redis = require "lua_redis"
local rspamd_logger = require "rspamd_logger"

local KEY = 'lwsmail:rspamd:blocked'
local redis_params = lua_redis.parse_redis_server('multimap')

local function candidates(task)
  local keys, seen = {}, {}
  local function add(value)
    if value and value ~= '' then
      value = value:lower()
      if not seen[value] then
        seen[value] = true
        table.insert(keys, value)
      end
    end
  end
  local user = task:get_user()
  if user then
    add(user)
    add(user:match('@([^@]+)$'))
  end
  local from = task:get_from('smtp')
  if from and from[1] then
    add(from[1].addr)
    add(from[1].domain)
  end
  return keys
end

local function reply(value)
  local code, ends = value:match('^(L%-SPAM%d%d) until (.+)$')
  if code then
    return code .. ': sending suspended until ' .. ends .. ', change the password of this address'
  end
  return value .. ': sending suspended for mail abuse, see the Mail Abuse page'
end

local function strongest(values)
  local now = os.date('!%Y-%m-%d %H:%M:%S')
  local best
  for _, value in ipairs(values) do
    if type(value) == 'string' and value:match('^L%-SPAM%d%d') then
      local ends = value:match(' until (%d+%-%d+%-%d+ %d+:%d+:%d+) UTC$')
      if (ends == nil or ends > now) and (best == nil or value:sub(1, 8) > best:sub(1, 8)) then
        best = value
      end
    end
  end
  return best
end

if not redis_params then
  rspamd_logger.errx(rspamd_config, 'lwsmail: no Redis configured (multimap redis {}): '
      .. 'blocked senders are not refused by Rspamd')
else
  rspamd_config:register_symbol({
    name = 'LWS_BLOCKED',
    type = 'prefilter',
    priority = 10,
    score = 0.0,
    description = 'Sender or its domain blocked by lwsmail',
    callback = function(task)
      -- The panel's own scans are of mail already sent: today's blocks do not apply. (Rspamd
      -- 3.4 does not apply Settings' symbols_disabled to a prefilter, so the panel says so
      -- with this header; only the panel and the MTA's milter talk to Rspamd.)
      if task:get_request_header('Lwsmail-Panel-Scan') then
        return
      end
      local keys = candidates(task)
      if #keys == 0 then
        return
      end
      local function done(err, data)
        if err then
          rspamd_logger.errx(task, 'lwsmail: blocked senders unreadable: %s', err)
          return
        end
        local best = strongest(data or {})
        if best then
          task:insert_result('LWS_BLOCKED', 0.0, best)
          task:set_pre_result('reject', reply(best), 'lwsmail')
        end
      end
      local args = { KEY }
      for _, key in ipairs(keys) do
        table.insert(args, key)
      end
      lua_redis.redis_make_request(task, redis_params, KEY, false, done, 'HMGET', args)
    end,
  })
end
