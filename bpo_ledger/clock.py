"""Moments and days as people and jobs give them: the command line, tasks, the client's calendar."""

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

NOW_FORMAT = "an ISO 8601 date and time such as 2026-11-23T14:00:00+00:00 (without an offset it is UTC)"
DAY_FORMAT = "a date such as 2026-11-23"


def parse_now(value: str) -> dt.datetime:
    """An aware moment from ISO 8601 text (UTC when no offset is given); ValueError says the format."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time; use {NOW_FORMAT}.") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def parse_day(value: str) -> dt.date:
    """A calendar day from YYYY-MM-DD; ValueError says the format."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date; use {DAY_FORMAT}.") from None


def local_date(moment: dt.datetime, tz_name: str) -> dt.date:
    """The calendar date of the aware datetime `moment` in the IANA zone `tz_name`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"local_date needs an aware datetime, got naive {moment.isoformat()}")
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz_name!r}") from exc
    return moment.astimezone(zone).date()


def client_today(client, now: dt.datetime | None = None) -> dt.date:
    """Today's date where the client is: due dates are the client's calendar days."""
    return local_date(now or timezone.now(), client.timezone)


def zone_label(local: dt.datetime) -> str:
    """The abbreviation of an aware moment's zone ("CET", "JST"); "UTC+04" where the zone has only an offset."""
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def in_zone(moment: dt.datetime, tz_name: str) -> dt.datetime:
    """The aware `moment` in the IANA zone `tz_name` (UTC for a zone tzdata lacks, so still labelled)."""
    try:
        return moment.astimezone(ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(dt.UTC)


def local_time_text(moment: dt.datetime, tz_name: str, *, seconds: bool = False) -> str:
    """A stored moment as people in the zone read it, labelled: "2026-12-03 09:15 CET"."""
    local = in_zone(moment, tz_name)
    return f"{local:{'%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M'}} {zone_label(local)}"
