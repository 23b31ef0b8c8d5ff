-- Test profile only (never installed in production): a message carrying
-- "X-LWS-Test-Score: N" gets N more points, so a test can reach Rspamd's own reject
-- action (15) through the milter without the network-based checks this profile turns
-- off. GTUBE cannot stand in: it makes Rspamd skip every module, the exporter included.
rspamd_config:register_symbol({
  name = 'LWS_TEST_SCORE',
  score = 1.0,
  description = 'Extra score asked for by a test',
  callback = function(task)
    local value = tonumber(task:get_header('X-LWS-Test-Score') or '')
    if value then
      task:insert_result('LWS_TEST_SCORE', value)
    end
  end,
})
