"""The study timeline: study days, study weeks, visit windows and when tasks close.

Study day N is the local date N days after day 0 (the first injection), in the
participant's IANA zone; day 0 itself is study day 0, the day before it -1. Study weeks
count from day 0 (ISO weeks while day 0 is not known). Every package asks here, so the
diary, the tasks screen, the reminders, the locks and the trial sync agree on the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from backend.core.timeutil import local_date

WEEK_DAYS = 7


def study_day(day0: date | None, day: date) -> int | None:
    """The study day of the local date `day`; None while day 0 is not known."""
    return None if day0 is None else (day - day0).days


def study_day_at(day0: date | None, moment: datetime, timezone: str) -> int | None:
    """The study day of the instant `moment` in the IANA zone `timezone`."""
    return study_day(day0, local_date(moment, timezone))


def date_of(day0: date, number: int) -> date:
    """The local date of study day `number`."""
    return day0 + timedelta(days=number)


def study_week(day0: date | None, day: date) -> tuple[date, date]:
    """First and last local date of the study week of `day`."""
    if day0 is None:
        start = day - timedelta(days=day.weekday())
    else:
        start = day0 + timedelta(days=((day - day0).days // WEEK_DAYS) * WEEK_DAYS)
    return start, start + timedelta(days=WEEK_DAYS - 1)


def at_local(day: date, moment: time, timezone: str) -> datetime:
    """The instant of the wall-clock `moment` on `day` in `timezone` (aware, local)."""
    return datetime.combine(day, moment, tzinfo=ZoneInfo(timezone))


def diary_closes(day: date, grace_until: time, timezone: str) -> datetime:
    """A diary day stays open until the grace time of the next morning."""
    return at_local(day + timedelta(days=1), grace_until, timezone)


def week_closes(day0: date | None, day: date, timezone: str) -> datetime:
    """The midnight that ends the study week of `day`."""
    return at_local(study_week(day0, day)[1] + timedelta(days=1), time(0), timezone)


def days_close(day0: date, last_day: int, timezone: str) -> datetime:
    """The midnight after study day `last_day` (an assessment schedule's end)."""
    return at_local(date_of(day0, last_day + 1), time(0), timezone)


@dataclass(frozen=True)
class VisitWindow:
    """A visit (or an endpoint's pseudo-visit): target day and inclusive window, in study days."""

    code: str
    target_day: int
    start_day: int
    end_day: int

    def contains(self, number: int) -> bool:
        return self.start_day <= number <= self.end_day

    def dates(self, day0: date) -> VisitDates:
        """The window as local dates of a participant whose day 0 is `day0`."""
        return VisitDates(
            self.code, date_of(day0, self.target_day), date_of(day0, self.start_day), date_of(day0, self.end_day)
        )


@dataclass(frozen=True)
class VisitDates:
    code: str
    target: date
    start: date
    end: date
