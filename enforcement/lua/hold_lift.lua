-- Lift a hold only if it started before the lift (a newer one is news); from then on the
-- detection counts only what came after.
-- KEYS: the holds hash, the mailbox's lift floor; ARGV: the mailbox, the lift's time.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and tonumber(cjson.decode(v)['at']) <= tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', 3600)
