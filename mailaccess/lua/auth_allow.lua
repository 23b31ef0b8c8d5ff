-- Before a login (mailaccess/policy.py): KEYS[1] the client's failures (a sorted set of
-- millisecond times), KEYS[2] its refusal. ARGV: now (ms), delay window (ms), failures
-- before the delay, delay (s). Answers {status}: -1 refused, N wait N seconds, 0 go on.
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local failed = redis.call('ZCOUNT', KEYS[1], now - window, '+inf')
if failed >= tonumber(ARGV[3]) then return {tonumber(ARGV[4])} end
return {0}
