-- After a login (mailaccess/policy.py): the attempt is queued for the access log, and a
-- failure counts for the client and for the mailbox. KEYS: the queue, the client's
-- failures, its refusal, the mailbox's failures, the mailbox's alert. ARGV: the attempt
-- (JSON), now (ms), a unique member, counts for the client (1/0), counts for the mailbox
-- (1/0), refusal window (ms), failures before refusal, refusal (s), alert after.
-- Answers {queue length, refused now (1/0), alert now (1/0)}.
local now, member = tonumber(ARGV[2]), ARGV[3]
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
local refused, alert = 0, 0
local hour = 3600000
if ARGV[4] == '1' then
  local window = tonumber(ARGV[6])
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - math.max(window, hour))
  redis.call('PEXPIRE', KEYS[2], math.max(window, hour))
  if redis.call('ZCOUNT', KEYS[2], now - window, '+inf') >= tonumber(ARGV[7])
      and redis.call('SET', KEYS[3], now, 'NX', 'EX', tonumber(ARGV[8])) then
    refused = 1
  end
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[4], now, member)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - hour)
  redis.call('PEXPIRE', KEYS[4], hour)
  if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[9])
      and redis.call('SET', KEYS[5], now, 'NX', 'EX', 3600) then
    alert = 1
  end
end
return {length, refused, alert}
