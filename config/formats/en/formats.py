# Django's English formats, but a date and time it renders by default (the admin's lists and
# read-only fields: times in UTC, across clients) says its zone, "Dec. 3, 2026, 12:47 a.m. UTC".
# The app's own pages show each client's zone (bpo_ledger.templatetags.ledger.local_time).
DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
