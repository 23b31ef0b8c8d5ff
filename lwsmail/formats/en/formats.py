# English dates as the panel shows them: a 24-hour clock like French and Italian, so a
# sentence never ends in "a.m.."; every date with a time names its zone ("T": CET, CEST),
# so that it can be matched with the mail server's replies, which are in UTC.
DATETIME_FORMAT = "N j, Y, H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
