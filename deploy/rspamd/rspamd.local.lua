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
--
-- Sending limits of website scripts (mail that never meets the policy service): the
-- panel publishes in the hash "lwsmail:limits" each system uid's hosting, its limits and
-- its domains' ("uid:<uid>"), and "admit_sha", the SHA1 of the counting script
-- (enforcement/lua/admit_function.lua), which it loads into Redis: the policy service and Rspamd count on
-- the same keys with the same script. The uid is the panel's attribution rule: the
-- Received line of Postfix's pickup when the milter sees one, else the first
-- X-PHP-Originating-Script header (PHP writes it before the script's own headers).
-- Over a limit the message is soft-rejected with the L-RATE text; it is never spam.
local lua_redis = require "lua_redis"
local rspamd_logger = require "rspamd_logger"
local rspamd_util = require "rspamd_util"
local ucl = require "ucl"

local KEY = 'lwsmail:rspamd:blocked'
local LIMITS_KEY = 'lwsmail:limits'
local RATE = 'lwsmail:rate:'
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

local function website_uid(task)
  -- Postfix does not show a milter the Received line it adds itself, so in practice the
  -- uid is the one PHP's mail() writes first (before any header the script adds).
  local received = task:get_header_full('Received')
  local top = received and received[1]
  local uid = top and (top.decoded or top.value or ''):match('%(Postfix, from userid (%d+)%)')
  if uid then
    return uid
  end
  local php = task:get_header_full('X-PHP-Originating-Script')
  return php and php[1] and (php[1].decoded or php[1].value or ''):match('^%s*(%d+):')
end

local function decode(json)
  local parser = ucl.parser()
  if not json or not parser:parse_string(json) then
    return nil
  end
  return parser:get_object()
end

local function rate_text(sender, counter, window, limit, resumes)
  if window == 'message' then
    return string.format('L-RATE <%s>: at most %d recipients per message', sender, limit)
  end
  local whose = counter.kind == 'domain' and (' of the domain ' .. counter.target)
      or ' of this hosting'
  local text = string.format('L-RATE <%s>: %s limit of %d recipients%s reached', sender,
      window == 'hour' and 'hourly' or 'daily', limit, whose)
  local at = tonumber(resumes)
  if at and at > 0 then
    text = text .. ', sending resumes at ' .. os.date('!%Y-%m-%d %H:%M:%S', math.floor(at)) .. ' UTC'
  end
  return text
end

local function refuse_rate(task, text)
  task:insert_result('LWS_RATE', 0.0, 'L-RATE')
  task:set_pre_result('soft reject', text, 'lwsmail')
end

-- Count a website script's recipients on its domain's and hosting's counters.
local function count_website(task, uid)
  local from = task:get_from('smtp')
  local sender = (from and from[1] and from[1].addr or ''):lower()
  local domain = (from and from[1] and from[1].domain or ''):lower()
  local recipients = task:get_recipients('smtp') or {}
  local n = math.max(#recipients, 1)
  local function counted(err, data)
    if err then
      rspamd_logger.errx(task, 'lwsmail: sending limits not counted: %s', err)
      return
    end
    if type(data) == 'table' and tonumber(data[1]) and tonumber(data[1]) >= 0 then
      local index = tonumber(data[1])
      refuse_rate(task, rate_text(sender, task:cache_get('lwsmail_counters')[index],
          tostring(data[2]), tonumber(data[3]), data[4]))
    end
  end
  local function limits_read(err, data)
    if err or type(data) ~= 'table' then
      rspamd_logger.errx(task, 'lwsmail: sending limits unreadable: %s', err)
      return
    end
    local entry, sha = decode(data[1]), data[2]
    if not entry or type(sha) ~= 'string' then
      return -- not a hosting's uid, or limits never published: nothing to count
    end
    local pm = tonumber(entry.pm) or 0
    if pm > 0 and n > pm then
      refuse_rate(task, rate_text(sender, nil, 'message', pm))
      return
    end
    local counters = {}
    local own = entry.domains and entry.domains[domain]
    if own then
      table.insert(counters, { kind = 'domain', target = domain, hour = own[1], day = own[2] })
    end
    table.insert(counters, { kind = 'hosting', target = tostring(entry.h),
      hour = entry.hl[1], day = entry.hl[2] })
    task:cache_set('lwsmail_counters', counters)
    local args = { sha, tostring(#counters + 2) }
    for _, c in ipairs(counters) do
      table.insert(args, RATE .. c.kind .. ':' .. c.target)
    end
    table.insert(args, RATE .. 'message:none')
    table.insert(args, RATE .. 'refused')
    table.insert(args, string.format('%.6f', rspamd_util.get_time()))
    table.insert(args, (task:get_queue_id() or 'noqid') .. ':' .. tostring(rspamd_util.get_time()))
    table.insert(args, tostring(n))
    table.insert(args, '0')
    table.insert(args, tostring(#counters))
    for _, c in ipairs(counters) do
      table.insert(args, tostring(c.hour or 0))
      table.insert(args, tostring(c.day or 0))
    end
    lua_redis.redis_make_request(task, redis_params, LIMITS_KEY, true, counted, 'EVALSHA', args)
  end
  lua_redis.redis_make_request(task, redis_params, LIMITS_KEY, false, limits_read, 'HMGET',
      { LIMITS_KEY, 'uid:' .. uid, 'admit_sha' })
end

if not redis_params then
  rspamd_logger.errx(rspamd_config, 'lwsmail: no Redis configured (multimap redis {}): '
      .. 'blocked senders are not refused by Rspamd')
else
  local blocked_id = rspamd_config:register_symbol({
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
      local uid = not task:get_user() and website_uid(task) or nil
      if #keys == 0 then
        if uid then
          count_website(task, uid)
        end
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
        elseif uid then
          count_website(task, uid)
        end
      end
      local args = { KEY }
      for _, key in ipairs(keys) do
        table.insert(args, key)
      end
      lua_redis.redis_make_request(task, redis_params, KEY, false, done, 'HMGET', args)
    end,
  })
  rspamd_config:register_symbol({
    name = 'LWS_RATE',
    type = 'virtual',
    parent = blocked_id,
    score = 0.0,
    description = 'Website script over its sending limit (lwsmail)',
  })
end

-- The signed reference: every message Postfix hands to this milter leaves with the header
-- "X-LWS-Ref: 1.<queue id>.<unix time>.<mac>", the mac being the first 32 hex digits of
-- HMAC-SHA256(key, "1.<queue id>.<unix time>"). A complaint (a feedback-loop report)
-- that quotes only the headers still names the message as the panel stored it (queue id
-- and time, reputation/references.py), and one a sender wrote or altered matches
-- nothing: any X-LWS-Ref the sender wrote is removed first. The key is the panel's
-- MESSAGE_REFERENCE_KEY (rspamd.conf.local, --var=LWSMAIL_REFERENCE_KEY); without one no
-- header is added.
local REF_HEADER = 'X-LWS-Ref'
local lwsmail_opts = rspamd_config:get_all_opt('lwsmail') or {}
local ref_key = lwsmail_opts.reference_key

if type(ref_key) ~= 'string' or ref_key == '' or ref_key:sub(1, 1) == '$' then
  rspamd_logger.infox(rspamd_config, 'lwsmail: no reference key (lwsmail { reference_key }): '
      .. 'outbound mail carries no X-LWS-Ref')
else
  local lua_mime = require "lua_mime"
  local rspamd_cryptobox_hash = require "rspamd_cryptobox_hash"
  rspamd_config:register_symbol({
    name = 'LWS_REFERENCE',
    type = 'postfilter',
    priority = 10,
    score = 0.0,
    description = 'Signed reference header added (lwsmail)',
    callback = function(task)
      local qid = task:get_queue_id()
      if not qid or qid == '' or not qid:match('^[%w]+$') then
        return
      end
      local signed = '1.' .. qid .. '.' .. string.format('%d', math.floor(rspamd_util.get_time()))
      local mac = rspamd_cryptobox_hash.create_specific_keyed(ref_key, 'sha256', signed):hex()
      lua_mime.modify_headers(task, {
        remove = { [REF_HEADER] = 0 },
        add = { [REF_HEADER] = { order = 0, value = signed .. '.' .. mac:sub(1, 32) } },
      })
    end,
  })
end

-- The stream way in (the panel's INGEST_STREAM, ingest/stream.py): with
-- lwsmail { ingest_stream = "<key>"; } (--var=LWSMAIL_INGEST_STREAM=<key>) every message is
-- appended to that Redis stream instead of being pushed over HTTP by metadata_exporter,
-- whose rule then selects nothing: the panel records the entries in batches, with no HTTP
-- request and no committed row per message. The fields are the exporter's X-Rspamd-*
-- headers, named without the prefix, and "message", the whole message. The script refuses
-- to add to a stream already holding ingest_stream_max entries (the panel's consumer is
-- stopped or far behind): Redis's memory is not filled, and the message, like one the
-- stream cannot take (Redis down), is soft-rejected, so that the sender's MTA keeps it and
-- tries again later, as the exporter's defer does.
local stream = lwsmail_opts.ingest_stream
local stream_max = tonumber(lwsmail_opts.ingest_stream_max) or 50000
local STREAM_ADD = [[
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return redis.error_reply('FULL the ingest stream holds its maximum of entries')
end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
]]

if type(stream) ~= 'string' or stream == '' or stream:sub(1, 1) == '$' then
  rspamd_logger.infox(rspamd_config, 'lwsmail: no ingest stream (lwsmail { ingest_stream }): '
      .. 'messages are pushed by metadata_exporter')
elseif not redis_params then
  rspamd_logger.errx(rspamd_config, 'lwsmail: ingest stream %s configured without Redis '
      .. '(multimap redis {}): messages are pushed by metadata_exporter', stream)
else
  local hostname = rspamd_util.get_hostname()
  local function json(value)
    return ucl.to_format(value, 'json-compact')
  end
  local function defer(task, why)
    rspamd_logger.errx(task, 'lwsmail: message not handed to the panel (%s): deferred', why)
    task:set_pre_result('soft reject', 'deferred', 'lwsmail')
  end
  rspamd_config:register_symbol({
    name = 'LWS_STREAM',
    type = 'idempotent',
    flags = 'empty,explicit_disable,ignore_passthrough',
    callback = function(task)
      if task:get_request_header('Lwsmail-Panel-Scan') then
        return -- the panel's own scans: it records those itself
      end
      local ip = task:get_from_ip()
      local from = task:get_from('smtp')
      local rcpt = {}
      for _, address in ipairs(task:get_recipients('smtp') or {}) do
        table.insert(rcpt, address.addr)
      end
      local args = {
        STREAM_ADD, '1', stream, tostring(stream_max),
        'from', (from and from[1] and from[1].addr ~= '' and from[1].addr) or 'unknown',
        'rcpt', #rcpt > 0 and json(rcpt) or 'unknown',
        'user', task:get_user() or 'unknown',
        'qid', task:get_queue_id() or 'unknown',
        'rspamd_server', hostname,
        'ip', (ip and ip:is_valid()) and tostring(ip) or 'unknown',
        'score', tostring(task:get_metric_score()[1]),
        'action', task:get_metric_action(),
        'subject', task:get_subject() or 'unknown',
        'symbols', json(task:get_symbols_all()),
        'message', task:get_content(),
      }
      local function added(err)
        if err then
          defer(task, tostring(err))
        end
      end
      local ok = lua_redis.redis_make_request(task, redis_params, stream, true, added, 'EVAL', args)
      if not ok then
        defer(task, 'Redis unreachable')
      end
    end,
  })
  -- One way in at a time: the exporter's rule selects no message while this is set
  -- (local.d/metadata_exporter.conf, selector "lwsmail").
  rawset(_G, 'lwsmail_ingest_stream', stream)
  rspamd_logger.infox(rspamd_config, 'lwsmail: messages appended to the Redis stream %s (at most %s entries)',
      stream, stream_max)
end
