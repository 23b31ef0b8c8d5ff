-- Remove a hold that nothing stands behind, if it is still that one.
-- KEYS: the holds hash; ARGV: the mailbox, the hold's token.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v)['t'] == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
