"""Which reminders the protocol asks for, and when: pure functions of the participant's
facts, settings and progress, so the planner, the staff view and the tests agree.

All moments are computed in the participant's IANA zone and returned in UTC; a reminder
at 20:00 stays at 20:00 local across a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from backend.reminders.models import ReminderKind, ReminderSettings, ReminderStatus
from backend.studies.document import ReminderRules, StudyProtocol
from backend.studies.timeline import at_local, date_of, days_close, diary_closes, study_day, study_week
from backend.studies.timeline import week_closes as timeline_week_closes
from backend.tasks.progress import Progress

MORNING = time(8, 0)  # injection-day reminders
FOLLOW_UP_KINDS = frozenset({ReminderKind.REST_PAIN_DIARY, ReminderKind.SIX_MINUTE_WALK, ReminderKind.ULCER_PHOTO})
_ASSESSMENT_OF = {
    ReminderKind.REST_PAIN_DIARY: "rest_pain_diary",
    ReminderKind.SIX_MINUTE_WALK: "six_minute_walk",
    ReminderKind.ULCER_PHOTO: "ulcer_photo",
}
_KIND_ORDER = {kind: n for n, kind in enumerate(ReminderKind)}
# Statuses that count towards the daily limit: sent, or on their way.
LIVE = frozenset({ReminderStatus.PENDING, ReminderStatus.SENDING, ReminderStatus.SENT})


@dataclass(frozen=True)
class Preferences:
    """The protocol's reminder settings with the participant's own choices applied."""

    diary_time: time
    quiet_start: time
    quiet_end: time
    opted_out: frozenset[str]
    max_per_day: int
    follow_up_after: timedelta

    def is_quiet(self, moment: time) -> bool:
        """Quiet hours are [start, end); they may span midnight; start == end means none."""
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end


def preferences(rules: ReminderRules, own: ReminderSettings | None) -> Preferences:
    """The protocol's reminder rules with the participant's own settings (`own` None: none
    saved; a null setting: the protocol's)."""
    diary_time, quiet_start, quiet_end = (own.diary_time, own.quiet_start, own.quiet_end) if own else (None,) * 3
    opted_out = frozenset(own.opted_out or ()) if own else frozenset()
    return Preferences(
        diary_time or rules.default_time,
        quiet_start or rules.quiet_start,
        quiet_end or rules.quiet_end,
        opted_out,
        rules.max_per_day,
        rules.follow_up_after,
    )


@dataclass(frozen=True)
class Who:
    """The facts of a participant the schedule depends on."""

    participant_id: int
    timezone: str
    day0: date | None
    enrolled_on: date  # local date of enrollment: nothing is reminded before it


@dataclass(frozen=True)
class Slot:
    """One reminder the protocol asks for."""

    kind: ReminderKind
    local_date: date
    attempt: int
    due_at: datetime  # UTC, after moving out of quiet hours
    expires_at: datetime  # UTC: the task's window closes
    in_quiet_hours: bool = False  # could not be moved out of quiet hours before it expires


@dataclass(frozen=True)
class Decision:
    slot: Slot
    status: ReminderStatus  # PENDING (to send) or SKIPPED
    reason: str | None = None


def _at(day: date, moment: time, tz: str) -> datetime:
    return at_local(day, moment, tz).astimezone(UTC)


def _scheduled(protocol: StudyProtocol, kind: ReminderKind, number: int | None) -> bool:
    found = protocol.assessment(_ASSESSMENT_OF[kind])
    return found is not None and found.schedule.covers(number)


def _schedule_closes(who: Who, protocol: StudyProtocol, kind: ReminderKind) -> datetime | None:
    """The start of the day after the assessment's last study day: a study week that runs
    past it (days 189-195 with to_day 194) must not keep its reminder alive beyond it."""
    if who.day0 is None:
        return None
    found = protocol.assessment(_ASSESSMENT_OF[kind])
    assert found is not None  # only asked for kinds that are scheduled
    return days_close(who.day0, found.schedule.to_day, who.timezone).astimezone(UTC)


def slots(who: Who, protocol: StudyProtocol, prefs: Preferences, day: date, progress: Progress) -> list[Slot]:
    """The reminders of one local day, in the order they should go out."""
    if day < who.enrolled_on:
        return []
    texts = protocol.reminders.texts
    tz = who.timezone
    number = study_day(who.day0, day)
    wanted: list[tuple[ReminderKind, time, datetime]] = []  # kind, local time, expiry
    visit_days = {}
    if who.day0 is not None:
        visit_days = {date_of(who.day0, v.target_day): v for v in protocol.visits}
    injection = visit_days.get(day)
    if injection is not None and injection.injection:
        # In the morning, before the clinic; later only if the participant's quiet hours say so.
        wanted.append((ReminderKind.INJECTION_DAY, MORNING, _at(day + timedelta(days=1), time(0), tz)))
    if day + timedelta(days=1) in visit_days:
        wanted.append((ReminderKind.VISIT_TOMORROW, prefs.diary_time, _at(day + timedelta(days=1), time(0), tz)))
    if _scheduled(protocol, ReminderKind.REST_PAIN_DIARY, number):
        closes = diary_closes(day, protocol.grace_until, tz).astimezone(UTC)
        wanted.append((ReminderKind.REST_PAIN_DIARY, prefs.diary_time, closes))
    week_start = study_week(who.day0, day)[0]
    week_closes = timeline_week_closes(who.day0, day, tz).astimezone(UTC)
    if day == week_start and progress.has_open_ulcers and _scheduled(protocol, ReminderKind.ULCER_PHOTO, number):
        closes = min(week_closes, _schedule_closes(who, protocol, ReminderKind.ULCER_PHOTO) or week_closes)
        wanted.append((ReminderKind.ULCER_PHOTO, prefs.diary_time, closes))
    if day == week_start and _scheduled(protocol, ReminderKind.SIX_MINUTE_WALK, number):
        closes = min(week_closes, _schedule_closes(who, protocol, ReminderKind.SIX_MINUTE_WALK) or week_closes)
        wanted.append((ReminderKind.SIX_MINUTE_WALK, prefs.diary_time, closes))

    result: list[Slot] = []
    for kind, moment, expires_at in wanted:
        if kind.value not in texts:
            continue  # the protocol has no message for it: it does not want this reminder
        due = _at(day, moment, tz)
        quiet = False
        # The wall-clock time it really goes out at: 02:30 does not exist on a spring-forward night.
        if prefs.is_quiet(due.astimezone(ZoneInfo(tz)).time()):
            due = quiet_end_after(due, prefs, tz)
            quiet = due >= expires_at
        result.append(Slot(kind, day, 0, due, expires_at, quiet))
        if kind in FOLLOW_UP_KINDS:
            nudge = due + prefs.follow_up_after
            local_nudge = nudge.astimezone(ZoneInfo(tz)).time()
            # A nudge is only useful soon after the reminder: one that would fall in quiet
            # hours is skipped, not moved to the morning.
            quiet_nudge = prefs.is_quiet(local_nudge) or nudge >= expires_at
            result.append(Slot(kind, day, 1, nudge, expires_at, quiet_nudge))
    return sorted(result, key=lambda s: (s.due_at, s.attempt, _KIND_ORDER[s.kind]))


def quiet_end_after(moment: datetime, prefs: Preferences, tz: str) -> datetime:
    """The first end of the quiet hours after `moment`."""
    local = moment.astimezone(ZoneInfo(tz))
    end = _at(local.date(), prefs.quiet_end, tz)
    return end if end > moment else _at(local.date() + timedelta(days=1), prefs.quiet_end, tz)


def plan(
    who: Who,
    protocol: StudyProtocol,
    prefs: Preferences,
    now: datetime,
    progress: Progress,
    existing: Mapping[tuple[ReminderKind, date, int], ReminderStatus],
    has_device: bool,
) -> list[Decision]:
    """New reminder rows due by `now`, for yesterday and today (a late run catches up).

    `existing` maps (kind, local date, attempt) of the rows already written for those days
    to their status; a slot with a row is never planned again.
    """
    today = now.astimezone(ZoneInfo(who.timezone)).date()
    statuses = dict(existing)
    decisions: list[Decision] = []
    for day in (today - timedelta(days=1), today):
        live = sum(1 for (_, d, _), s in statuses.items() if d == day and s in LIVE)
        for slot in slots(who, protocol, prefs, day, progress):
            key = (slot.kind, slot.local_date, slot.attempt)
            if key in statuses or slot.due_at > now:
                continue
            if slot.attempt == 1 and statuses.get((slot.kind, slot.local_date, 0)) != ReminderStatus.SENT:
                continue  # the nudge follows a reminder that went out, and only then
            reason = _skip_reason(slot, prefs, now, progress, has_device, live)
            if reason is None:
                live += 1
            status = ReminderStatus.PENDING if reason is None else ReminderStatus.SKIPPED
            if slot.attempt == 1 and reason in ("already_done", "quiet_hours", "window_closed"):
                statuses[key] = status  # a nudge that is not needed is not worth a row
                continue
            statuses[key] = status
            decisions.append(Decision(slot, status, reason))
    return decisions


def _skip_reason(
    slot: Slot, prefs: Preferences, now: datetime, progress: Progress, has_device: bool, live: int
) -> str | None:
    if slot.kind.value in prefs.opted_out:
        return "opted_out"
    if progress.done(slot.kind.value, slot.local_date):
        return "already_done"
    if slot.in_quiet_hours:
        return "quiet_hours"
    if now >= slot.expires_at:
        return "window_closed"
    if not has_device:
        return "no_device"
    if live >= prefs.max_per_day:
        return "daily_limit"
    return None
