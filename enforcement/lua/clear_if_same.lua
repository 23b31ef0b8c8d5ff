-- Delete the fields only if they still hold this block: an older block's lift must never
-- remove the newer block that replaced it.
-- KEYS: the blocks hash, Rspamd's map; ARGV: the field, the block's id, the map's field.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v)['id'] == tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[2], ARGV[3])
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
