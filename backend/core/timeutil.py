"""The only clock of the application.

Services receive `now` as an argument; routes and jobs take it from `utcnow()`, so tests
freeze time instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; refuse naive ones (their meaning is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a UTC offset is required")
    return value.astimezone(UTC)


def is_valid_timezone(name: str) -> bool:
    """Tell whether `name` is an IANA time zone known to this machine."""
    if name not in _known_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def local_time(moment: datetime, tz_name: str) -> datetime:
    """Return `moment` as wall-clock time in the IANA zone `tz_name`."""
    return ensure_utc(moment).astimezone(ZoneInfo(tz_name))


def local_date(moment: datetime, tz_name: str) -> date:
    """Return the calendar date of `moment` in the IANA zone `tz_name`."""
    return local_time(moment, tz_name).date()
