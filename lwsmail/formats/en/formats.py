# English dates as the panel shows them: a 24-hour clock like French and Italian, so a
# sentence never ends in "a.m.." and every page reads a time the same way.
DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
