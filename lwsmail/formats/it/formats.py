# Django's Italian formats; a date with a time names its zone ("T": CET, CEST), so that it
# can be matched with the mail server's replies, which are in UTC.
DATETIME_FORMAT = "l d F Y H:i T"
SHORT_DATETIME_FORMAT = "d/m/Y H:i T"
