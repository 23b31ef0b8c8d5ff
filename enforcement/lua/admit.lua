-- admit_function.lua comes first: count one message's recipients (the panel, Rspamd).
return admit(KEYS, ARGV)
