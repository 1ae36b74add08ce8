"""The reminder planner as pure functions: which reminders a day holds, when they fall in
UTC, and what a planning run decides for them. No database: the schedule must be right
before any row is written. Every expected instant is worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from backend.reminders import schedule
from backend.reminders.models import ReminderKind, ReminderSettings, ReminderStatus
from backend.reminders.schedule import Decision, Slot
from backend.studies.document import build_protocol
from backend.studies.protocol import DEMO_PROTOCOL_PATH, read_protocol_file
from backend.tasks.progress import Progress

_DOCUMENT: dict[str, Any] = read_protocol_file(DEMO_PROTOCOL_PATH)[0]
SHIPPED = build_protocol(_DOCUMENT)
# The demo protocol with a 120-minute follow-up delay: the times below are worked out for
# it, and 120 minutes puts the default 20:00 reminder's nudge exactly on the 22:00 start
# of the quiet hours, an edge these tests want. The shipped delay is tested on its own.
PROTOCOL = build_protocol(_DOCUMENT | {"reminders": _DOCUMENT["reminders"] | {"follow_up_after_minutes": 120}})

DIARY = ReminderKind.REST_PAIN_DIARY
WALK = ReminderKind.SIX_MINUTE_WALK
PHOTO = ReminderKind.ULCER_PHOTO
VISIT = ReminderKind.VISIT_TOMORROW
INJECTION = ReminderKind.INJECTION_DAY
PENDING = ReminderStatus.PENDING
SKIPPED = ReminderStatus.SKIPPED

# Thursday 2026-03-05; Tehran is +03:30 all year, so 20:00 local = 16:30 UTC.
D = date(2026, 3, 5)
NEXT = date(2026, 3, 6)
EARLY = date(2026, 1, 1)


def utc(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def who(timezone: str = "Asia/Tehran", day0: date | None = None, enrolled_on: date = EARLY) -> schedule.Who:
    """Enrolled long ago by default; plan() tests enrol on the day planned, or a run would
    also (rightly) write a window_closed row for the unreminded day before."""
    return schedule.Who(participant_id=1, timezone=timezone, day0=day0, enrolled_on=enrolled_on)


def prefs(**own: Any) -> schedule.Preferences:
    """The protocol defaults, or those with the participant's own choices (an unsaved row)."""
    if not own:
        return schedule.preferences(PROTOCOL.reminders, None)
    own.setdefault("opted_out", [])
    return schedule.preferences(PROTOCOL.reminders, ReminderSettings(participant_id=1, **own))


def slots(
    day: date, who_: schedule.Who | None = None, prefs_: schedule.Preferences | None = None, **progress: Any
) -> list[Slot]:
    return schedule.slots(who_ or who(), PROTOCOL, prefs_ or prefs(), day, Progress(**progress))


def plan(
    now: datetime,
    who_: schedule.Who | None = None,
    prefs_: schedule.Preferences | None = None,
    existing: Mapping[tuple[ReminderKind, date, int], ReminderStatus] | None = None,
    has_device: bool = True,
    **progress: Any,
) -> list[Decision]:
    return schedule.plan(
        who_ or who(enrolled_on=D), PROTOCOL, prefs_ or prefs(), now, Progress(**progress), existing or {}, has_device
    )


def due_times(found: list[Slot], kind: ReminderKind = DIARY, attempt: int = 0) -> list[datetime]:
    return [s.due_at for s in found if s.kind == kind and s.attempt == attempt]


# -- preferences ---------------------------------------------------------------------------


def test_without_own_settings_the_protocol_defaults_apply() -> None:
    assert prefs() == schedule.Preferences(
        diary_time=time(20, 0),
        quiet_start=time(22, 0),
        quiet_end=time(8, 0),
        opted_out=frozenset(),
        max_per_day=3,
        follow_up_after=timedelta(minutes=120),
    )


def test_own_choices_replace_the_defaults_one_field_at_a_time() -> None:
    """A null field means the protocol default, so a diary time alone keeps the quiet hours."""
    mine = prefs(diary_time=time(19, 30), opted_out=["ulcer_photo"])
    assert (mine.diary_time, mine.quiet_start, mine.quiet_end) == (time(19, 30), time(22, 0), time(8, 0))
    assert mine.opted_out == frozenset({"ulcer_photo"})
    assert (mine.max_per_day, mine.follow_up_after) == (3, timedelta(minutes=120))


def test_midnight_is_a_choice_not_a_missing_value() -> None:
    """00:00 must not be mistaken for 'not set' and replaced by the protocol's 22:00."""
    mine = prefs(quiet_start=time(0, 0), quiet_end=time(6, 0))
    assert (mine.quiet_start, mine.quiet_end) == (time(0, 0), time(6, 0))


def _quiet(start: time, end: time) -> schedule.Preferences:
    return schedule.Preferences(time(20, 0), start, end, frozenset(), 3, timedelta(minutes=120))


@pytest.mark.parametrize(
    ("start", "end", "moment", "quiet"),
    [
        # 22:00–08:00 spans midnight: [22:00, 24:00) and [00:00, 08:00).
        (time(22), time(8), time(21, 59), False),
        (time(22), time(8), time(22, 0), True),
        (time(22), time(8), time(23, 59), True),
        (time(22), time(8), time(0, 0), True),
        (time(22), time(8), time(7, 59), True),
        (time(22), time(8), time(8, 0), False),
        (time(22), time(8), time(12, 0), False),
        # 13:00–15:00 within one day.
        (time(13), time(15), time(12, 59), False),
        (time(13), time(15), time(13, 0), True),
        (time(13), time(15), time(14, 59), True),
        (time(13), time(15), time(15, 0), False),
        (time(13), time(15), time(23, 0), False),
        (time(13), time(15), time(3, 0), False),
        # start == end: no quiet hours at all.
        (time(8), time(8), time(8, 0), False),
        (time(8), time(8), time(0, 0), False),
        (time(8), time(8), time(23, 0), False),
    ],
)
def test_quiet_hours_are_start_inclusive_end_exclusive(start: time, end: time, moment: time, quiet: bool) -> None:
    assert _quiet(start, end).is_quiet(moment) is quiet


# -- Asia/Tehran: the diary reminder -------------------------------------------------------


def test_the_diary_reminder_is_due_at_20_local_and_expires_at_the_grace_time() -> None:
    """20:00 Tehran = 16:30 UTC; grace 10:00 next day = 06:30 UTC; the 22:00 nudge (18:30
    UTC) is in quiet hours and marked so."""
    assert slots(D) == [
        Slot(DIARY, D, 0, utc(3, 5, 16, 30), utc(3, 6, 6, 30)),
        Slot(DIARY, D, 1, utc(3, 5, 18, 30), utc(3, 6, 6, 30), in_quiet_hours=True),
    ]


def test_nothing_is_planned_before_the_due_time() -> None:
    assert plan(utc(3, 5, 16, 29, 59)) == []


@pytest.mark.parametrize("now", [utc(3, 5, 16, 30), utc(3, 5, 21, 0)])
def test_the_reminder_is_pending_from_its_due_time(now: datetime) -> None:
    """21:00 UTC is already 00:30 on the 6th in Tehran: the 5th is then yesterday, still caught."""
    assert plan(now) == [Decision(Slot(DIARY, D, 0, utc(3, 5, 16, 30), utc(3, 6, 6, 30)), PENDING)]


@pytest.mark.parametrize("status", list(ReminderStatus))
def test_a_slot_that_has_a_row_is_not_planned_again(status: ReminderStatus) -> None:
    assert plan(utc(3, 5, 16, 31), existing={(DIARY, D, 0): status}) == []


# -- Europe/Berlin across the DST changes --------------------------------------------------


@pytest.mark.parametrize(
    ("day", "due", "expires"),
    [
        # Spring forward on Sunday 29 March: CET (+1) before, CEST (+2) from 03:00 that night.
        (date(2026, 3, 28), utc(3, 28, 19), utc(3, 29, 8)),  # expires 10:00 CEST
        (date(2026, 3, 29), utc(3, 29, 18), utc(3, 30, 8)),
        (date(2026, 3, 30), utc(3, 30, 18), utc(3, 31, 8)),
        # Fall back on Sunday 25 October: CEST before, CET from 03:00 CEST (01:00 UTC).
        (date(2026, 10, 24), utc(10, 24, 18), utc(10, 25, 9)),  # expires 10:00 CET
        (date(2026, 10, 25), utc(10, 25, 19), utc(10, 26, 9)),
        (date(2026, 10, 26), utc(10, 26, 19), utc(10, 27, 9)),
    ],
)
def test_20_local_stays_20_local_across_a_dst_change(day: date, due: datetime, expires: datetime) -> None:
    found = slots(day, who("Europe/Berlin"))
    assert [(s.due_at, s.expires_at) for s in found if s.kind == DIARY and s.attempt == 0] == [(due, expires)]


NO_QUIET = {"quiet_start": time(0, 0), "quiet_end": time(0, 0)}


def test_a_nonexistent_local_time_goes_out_once_as_if_the_clocks_had_not_moved_yet() -> None:
    """02:30 does not exist in Berlin on 29 March (01:59 CET is followed by 03:00 CEST).
    The reminder is read with the offset before the jump: 02:30 CET = 01:30 UTC, which the
    phone shows as 03:30 CEST. That is sensible: exactly one reminder, on the right local
    day, half an hour after the gap, long before the diary closes; the days around keep
    02:30 local (01:30 UTC in winter, 00:30 UTC in summer)."""
    berlin = who("Europe/Berlin")
    mine = prefs(diary_time=time(2, 30), **NO_QUIET)
    assert due_times(slots(date(2026, 3, 28), berlin, mine)) == [utc(3, 28, 1, 30)]
    assert slots(date(2026, 3, 29), berlin, mine) == [
        Slot(DIARY, date(2026, 3, 29), 0, utc(3, 29, 1, 30), utc(3, 30, 8)),
        Slot(DIARY, date(2026, 3, 29), 1, utc(3, 29, 3, 30), utc(3, 30, 8)),  # 05:30 CEST
    ]
    assert due_times(slots(date(2026, 3, 30), berlin, mine)) == [utc(3, 30, 0, 30)]


def test_an_ambiguous_local_time_goes_out_once_at_its_first_occurrence() -> None:
    """02:30 happens twice in Berlin on 25 October; the first (CEST, 00:30 UTC) is used and
    there is still only one reminder."""
    found = slots(date(2026, 10, 25), who("Europe/Berlin"), prefs(diary_time=time(2, 30), **NO_QUIET))
    assert due_times(found) == [utc(10, 25, 0, 30)]


def test_a_nonexistent_time_in_quiet_hours_moves_to_the_quiet_end() -> None:
    """02:30 on 29 March with 22:00–08:00 quiet hours: moved to 08:00 CEST = 06:00 UTC."""
    found = slots(date(2026, 3, 29), who("Europe/Berlin"), prefs(diary_time=time(2, 30)))
    assert due_times(found) == [utc(3, 29, 6)]


def test_a_nonexistent_time_that_lands_in_quiet_hours_is_moved_out_of_them() -> None:
    """02:30 is outside 03:00–08:00 quiet hours, but on 29 March it goes out at 03:30 CEST,
    which is inside them: it should wait for 08:00 CEST = 06:00 UTC."""
    mine = prefs(diary_time=time(2, 30), quiet_start=time(3, 0), quiet_end=time(8, 0))
    assert due_times(slots(date(2026, 3, 29), who("Europe/Berlin"), mine)) == [utc(3, 29, 6)]


def test_quiet_hours_are_judged_on_the_local_clock() -> None:
    """22:30 CET on 28 March is 21:30 UTC, outside 22:00–08:00 in UTC but inside it locally:
    moved to 08:00 next morning, which is CEST by then (06:00 UTC). Its nudge at 10:00 CEST
    meets the diary's close and is marked quiet."""
    found = slots(date(2026, 3, 28), who("Europe/Berlin"), prefs(diary_time=time(22, 30)))
    assert found == [
        Slot(DIARY, date(2026, 3, 28), 0, utc(3, 29, 6), utc(3, 29, 8)),
        Slot(DIARY, date(2026, 3, 28), 1, utc(3, 29, 8), utc(3, 29, 8), in_quiet_hours=True),
    ]


def test_a_summer_evening_nudge_is_quiet_by_local_time() -> None:
    """On 31 March (Tuesday) the 22:00 CEST nudge is 20:00 UTC: quiet locally, so no row."""
    day = date(2026, 3, 31)
    berlin = who("Europe/Berlin", enrolled_on=day)
    assert [s for s in slots(day, berlin) if s.attempt == 1] == [
        Slot(DIARY, day, 1, utc(3, 31, 20), utc(4, 1, 8), in_quiet_hours=True)
    ]
    assert plan(utc(3, 31, 20), berlin, existing={(DIARY, day, 0): ReminderStatus.SENT}) == []


# -- quiet hours ---------------------------------------------------------------------------


def test_a_reminder_in_quiet_hours_waits_for_the_morning_before_the_grace_closes() -> None:
    """Own 23:00 with 22:00–08:00 (possible after the protocol's quiet hours change): moved
    to 08:00 Tehran next day = 04:30 UTC, before the 10:00 close (06:30 UTC)."""
    mine = prefs(diary_time=time(23, 0))
    moved = Slot(DIARY, D, 0, utc(3, 6, 4, 30), utc(3, 6, 6, 30))
    assert slots(D, prefs_=mine) == [moved, Slot(DIARY, D, 1, utc(3, 6, 6, 30), utc(3, 6, 6, 30), True)]
    assert plan(utc(3, 5, 19, 30), prefs_=mine) == []  # 23:00 local: not yet
    assert plan(utc(3, 6, 4, 29, 59), prefs_=mine) == []
    assert plan(utc(3, 6, 4, 30), prefs_=mine) == [Decision(moved, PENDING)]


def test_daytime_quiet_hours_move_a_reminder_to_their_end_the_same_day() -> None:
    """13:00–15:00, reminder 14:00 → 15:00 Tehran = 11:30 UTC; nudge 17:00 (13:30 UTC) is
    outside them."""
    found = slots(D, prefs_=prefs(diary_time=time(14, 0), quiet_start=time(13, 0), quiet_end=time(15, 0)))
    assert found == [
        Slot(DIARY, D, 0, utc(3, 5, 11, 30), utc(3, 6, 6, 30)),
        Slot(DIARY, D, 1, utc(3, 5, 13, 30), utc(3, 6, 6, 30)),
    ]


def test_own_daytime_quiet_hours_replace_the_protocol_night() -> None:
    """With 13:00–15:00 of one's own, the 22:00 nudge (18:30 UTC) is no longer quiet."""
    mine = prefs(quiet_start=time(13, 0), quiet_end=time(15, 0))
    assert slots(D, prefs_=mine)[1] == Slot(DIARY, D, 1, utc(3, 5, 18, 30), utc(3, 6, 6, 30))
    sent = {(DIARY, D, 0): ReminderStatus.SENT}
    assert [d.status for d in plan(utc(3, 5, 18, 30), prefs_=mine, existing=sent)] == [PENDING]


def test_start_equal_to_end_means_no_quiet_hours() -> None:
    """23:00 Tehran = 19:30 UTC stays put; its nudge at 01:00 (21:30 UTC) is not quiet."""
    found = slots(D, prefs_=prefs(diary_time=time(23, 0), quiet_start=time(8, 0), quiet_end=time(8, 0)))
    assert found == [
        Slot(DIARY, D, 0, utc(3, 5, 19, 30), utc(3, 6, 6, 30)),
        Slot(DIARY, D, 1, utc(3, 5, 21, 30), utc(3, 6, 6, 30)),
    ]


@pytest.mark.parametrize("now", [utc(3, 5, 19, 30), utc(3, 6, 4, 30), utc(3, 6, 6, 0)])
def test_a_follow_up_that_falls_in_quiet_hours_is_not_planned_or_moved(now: datetime) -> None:
    """Reminder 21:00, nudge 23:00 Tehran (19:30 UTC): not sent then, nor next morning."""
    mine = prefs(diary_time=time(21, 0))
    assert plan(now, prefs_=mine, existing={(DIARY, D, 0): ReminderStatus.SENT}) == []


# -- follow-ups ----------------------------------------------------------------------------

AT_19 = {"diary_time": time(19, 0)}  # 15:30 UTC; the nudge at 21:00 Tehran = 17:30 UTC


def test_a_follow_up_goes_out_two_hours_after_a_sent_reminder_while_the_diary_is_not_done() -> None:
    sent = {(DIARY, D, 0): ReminderStatus.SENT}
    assert plan(utc(3, 5, 17, 29, 59), prefs_=prefs(**AT_19), existing=sent) == []
    assert plan(utc(3, 5, 17, 30), prefs_=prefs(**AT_19), existing=sent) == [
        Decision(Slot(DIARY, D, 1, utc(3, 5, 17, 30), utc(3, 6, 6, 30)), PENDING)
    ]


@pytest.mark.parametrize(
    "status", [ReminderStatus.PENDING, ReminderStatus.SENDING, ReminderStatus.FAILED, ReminderStatus.SKIPPED]
)
def test_no_follow_up_unless_the_reminder_was_sent(status: ReminderStatus) -> None:
    assert plan(utc(3, 5, 17, 30), prefs_=prefs(**AT_19), existing={(DIARY, D, 0): status}) == []


def test_no_follow_up_and_no_row_once_the_diary_is_done() -> None:
    sent = {(DIARY, D, 0): ReminderStatus.SENT}
    assert plan(utc(3, 5, 17, 30), prefs_=prefs(**AT_19), existing=sent, diary_days={D}) == []


# -- skips and their reasons ---------------------------------------------------------------

EVENING = utc(3, 5, 16, 30)
DIARY_SLOT = Slot(DIARY, D, 0, EVENING, utc(3, 6, 6, 30))


def test_an_opted_out_kind_is_skipped_with_a_row() -> None:
    assert plan(EVENING, prefs_=prefs(opted_out=["rest_pain_diary"])) == [Decision(DIARY_SLOT, SKIPPED, "opted_out")]


def test_a_diary_already_filled_is_skipped_as_done() -> None:
    assert plan(EVENING, diary_days={D}) == [Decision(DIARY_SLOT, SKIPPED, "already_done")]


def test_a_diary_filled_for_another_day_does_not_count() -> None:
    assert plan(EVENING, diary_days={NEXT, date(2026, 3, 4)}) == [Decision(DIARY_SLOT, PENDING)]


def test_without_a_phone_the_reminder_is_skipped() -> None:
    assert plan(EVENING, has_device=False) == [Decision(DIARY_SLOT, SKIPPED, "no_device")]


# Day 0 with open ulcers: injection at 08:00 (04:30 UTC), then diary, photo and walk at
# 20:00 (16:30 UTC); the week closes at 00:00 on the 12th in Tehran = 20:30 UTC on the 11th.
WEEK_CLOSES = utc(3, 11, 20, 30)


@pytest.mark.parametrize(
    ("injection_status", "walk"),
    [
        (ReminderStatus.SENT, (SKIPPED, "daily_limit")),
        (ReminderStatus.SENDING, (SKIPPED, "daily_limit")),
        (ReminderStatus.PENDING, (SKIPPED, "daily_limit")),
        (ReminderStatus.FAILED, (PENDING, None)),
        (ReminderStatus.SKIPPED, (PENDING, None)),
    ],
)
def test_the_daily_limit_counts_live_rows_of_the_day(
    injection_status: ReminderStatus, walk: tuple[ReminderStatus, str | None]
) -> None:
    """max_per_day 3: with the injection reminder live, the third 20:00 reminder is one too
    many; a failed or skipped one does not count."""
    decisions = plan(
        EVENING, who(day0=D, enrolled_on=D), existing={(INJECTION, D, 0): injection_status}, open_ulcers={1}
    )
    assert decisions == [
        Decision(DIARY_SLOT, PENDING),
        Decision(Slot(PHOTO, D, 0, EVENING, WEEK_CLOSES), PENDING),
        Decision(Slot(WALK, D, 0, EVENING, WEEK_CLOSES), *walk),
    ]


def test_yesterdays_rows_do_not_count_towards_todays_limit() -> None:
    yesterday = date(2026, 3, 4)
    existing = {(k, yesterday, 0): ReminderStatus.SENT for k in (INJECTION, VISIT, WALK)}
    assert plan(EVENING, existing=existing) == [Decision(DIARY_SLOT, PENDING)]


def test_a_late_run_catches_up_until_the_window_closes_then_records_why() -> None:
    """No run since before 20:00 on the 5th: at 09:59 Tehran next day (06:29 UTC) the
    reminder still goes; from 10:00 (06:30 UTC) it is skipped as window_closed."""
    assert plan(utc(3, 6, 6, 29)) == [Decision(DIARY_SLOT, PENDING)]
    assert plan(utc(3, 6, 6, 30)) == [Decision(DIARY_SLOT, SKIPPED, "window_closed")]


# -- enrolment and the assessment schedule ---------------------------------------------------


def test_nothing_is_reminded_before_enrolment() -> None:
    """Enrolled on the 6th: a run at 10:00 Tehran that day writes nothing for the 5th."""
    assert slots(D, who(enrolled_on=NEXT)) == []
    assert plan(utc(3, 6, 6, 30), who(enrolled_on=NEXT)) == []
    assert [d.reason for d in plan(utc(3, 6, 6, 30), who(enrolled_on=D))] == ["window_closed"]


@pytest.mark.parametrize(("study_day", "reminded"), [(-15, False), (-14, True), (194, True), (195, False)])
def test_reminders_only_within_the_assessment_schedule(study_day: int, reminded: bool) -> None:
    """Schedules run from day -14 to day 194 inclusive."""
    day = D + timedelta(days=study_day)
    assert bool(due_times(slots(day, who(day0=D)))) is reminded
    if not reminded:
        assert slots(day, who(day0=D), open_ulcers={1}) == []


# -- weekly walk and photo -----------------------------------------------------------------


def test_weekly_reminders_come_on_the_first_day_of_the_study_week() -> None:
    """Day 0 is Thursday the 5th, so weeks start on Thursdays: day 7 is the 12th, its week
    closes at 00:00 on the 19th Tehran = 20:30 UTC on the 18th."""
    day7 = date(2026, 3, 12)
    found = [s for s in slots(day7, who(day0=D), open_ulcers={1}) if s.attempt == 0]
    assert found == [
        Slot(DIARY, day7, 0, utc(3, 12, 16, 30), utc(3, 13, 6, 30)),
        Slot(PHOTO, day7, 0, utc(3, 12, 16, 30), utc(3, 18, 20, 30)),
        Slot(WALK, day7, 0, utc(3, 12, 16, 30), utc(3, 18, 20, 30)),
    ]
    for other in (date(2026, 3, 9), date(2026, 3, 11), date(2026, 3, 13)):  # a Monday among them
        assert {s.kind for s in slots(other, who(day0=D), open_ulcers={1})} == {DIARY}


def test_weeks_are_iso_weeks_while_day0_is_unknown() -> None:
    """Monday the 9th; the week closes at 00:00 Monday the 16th Tehran = 20:30 UTC the 15th."""
    monday = date(2026, 3, 9)
    found = [s for s in slots(monday, open_ulcers={1}) if s.kind != DIARY and s.attempt == 0]
    assert found == [
        Slot(PHOTO, monday, 0, utc(3, 9, 16, 30), utc(3, 15, 20, 30)),
        Slot(WALK, monday, 0, utc(3, 9, 16, 30), utc(3, 15, 20, 30)),
    ]
    assert {s.kind for s in slots(date(2026, 3, 10), open_ulcers={1})} == {DIARY}


def test_no_photo_reminder_without_open_ulcers() -> None:
    assert {s.kind for s in slots(date(2026, 3, 9))} == {DIARY, WALK}


def test_weekly_tasks_done_this_week_are_skipped_as_done() -> None:
    day7 = date(2026, 3, 12)
    decisions = plan(
        utc(3, 12, 16, 30),
        who(day0=D, enrolled_on=day7),
        open_ulcers={1},
        walk_weeks_done={day7},
        photographed={day7: {1}},
    )
    assert [(d.slot.kind, d.status, d.reason) for d in decisions] == [
        (DIARY, PENDING, None),
        (PHOTO, SKIPPED, "already_done"),
        (WALK, SKIPPED, "already_done"),
    ]


def test_last_weeks_walk_does_not_count_for_this_week() -> None:
    decisions = plan(utc(3, 12, 16, 30), who(day0=D, enrolled_on=date(2026, 3, 12)), walk_weeks_done={D})
    assert [(d.slot.kind, d.status) for d in decisions] == [(DIARY, PENDING), (WALK, PENDING)]


# -- visits and injections -----------------------------------------------------------------


def test_visit_tomorrow_comes_the_evening_before_a_visit_at_the_diary_time() -> None:
    """M1 is day 30 = 4 April; on the 3rd at 20:00 Tehran (16:30 UTC), until the visit day
    begins (00:00 on the 4th = 20:30 UTC on the 3rd)."""
    eve = date(2026, 4, 3)
    assert [s for s in slots(eve, who(day0=D)) if s.kind == VISIT] == [
        Slot(VISIT, eve, 0, utc(4, 3, 16, 30), utc(4, 3, 20, 30))
    ]
    for other in (date(2026, 4, 2), date(2026, 4, 4)):
        assert VISIT not in {s.kind for s in slots(other, who(day0=D))}


def test_no_visit_reminders_while_day0_is_unknown() -> None:
    assert {s.kind for s in slots(date(2026, 4, 3))} == {DIARY}  # M1's eve, were day 0 the 5th


@pytest.mark.parametrize(
    ("day", "due", "expires"),
    [
        (D, utc(3, 5, 4, 30), utc(3, 5, 20, 30)),  # BASELINE, day 0, 08:00 Tehran
        (date(2026, 5, 4), utc(5, 4, 4, 30), utc(5, 4, 20, 30)),  # M2, day 60
    ],
)
def test_injection_day_reminder_comes_at_the_end_of_quiet_hours(day: date, due: datetime, expires: datetime) -> None:
    assert [s for s in slots(day, who(day0=D)) if s.kind == INJECTION] == [Slot(INJECTION, day, 0, due, expires)]


def test_no_injection_reminder_on_a_visit_without_injection() -> None:
    assert INJECTION not in {s.kind for s in slots(date(2026, 4, 4), who(day0=D))}  # M1


def test_injection_day_is_at_8_unless_quiet_hours_run_later() -> None:
    """08:00 Tehran = 04:30 UTC with quiet hours that end by then (or in the afternoon);
    own quiet hours 23:00–09:00 move it to 09:00 = 05:30 UTC."""
    assert due_times(slots(D, who(day0=D), prefs(quiet_start=time(23), quiet_end=time(7))), INJECTION) == [
        utc(3, 5, 4, 30)
    ]
    assert due_times(slots(D, who(day0=D), prefs(quiet_start=time(13), quiet_end=time(15))), INJECTION) == [
        utc(3, 5, 4, 30)
    ]
    assert due_times(slots(D, who(day0=D), prefs(quiet_start=time(23), quiet_end=time(9))), INJECTION) == [
        utc(3, 5, 5, 30)
    ]


def test_injection_day_comes_at_8_when_quiet_hours_are_off() -> None:
    """06:00–06:00 means no quiet hours: 08:00 Tehran = 04:30 UTC, not 06:00."""
    mine = prefs(quiet_start=time(6, 0), quiet_end=time(6, 0))
    assert due_times(slots(D, who(day0=D), mine), INJECTION) == [utc(3, 5, 4, 30)]


@pytest.mark.parametrize("day", [D, date(2026, 5, 3)])  # day 0 (injection); day 59 (M2 tomorrow)
def test_visit_and_injection_reminders_have_no_follow_up(day: date) -> None:
    """With no quiet hours every nudge would be kept, so a missing one is deliberate."""
    mine = prefs(diary_time=time(18, 0), **NO_QUIET)
    found = slots(day, who(day0=D), mine, open_ulcers={1})
    assert {s.kind for s in found} & {VISIT, INJECTION}
    assert not [s for s in found if s.kind in (VISIT, INJECTION) and s.attempt == 1]


# -- ordering ------------------------------------------------------------------------------


def test_slots_go_out_by_due_time_then_kind() -> None:
    """Day 0 with the diary at 07:00 and no quiet hours: the 07:00 reminders (03:30 UTC)
    come before the 08:00 injection (04:30), and the nudges at 09:00 (05:30) last."""
    found = slots(D, who(day0=D), prefs(diary_time=time(7, 0), **NO_QUIET), open_ulcers={1})
    diary_closes = utc(3, 6, 6, 30)
    assert found == [
        Slot(DIARY, D, 0, utc(3, 5, 3, 30), diary_closes),
        Slot(PHOTO, D, 0, utc(3, 5, 3, 30), WEEK_CLOSES),
        Slot(WALK, D, 0, utc(3, 5, 3, 30), WEEK_CLOSES),
        Slot(INJECTION, D, 0, utc(3, 5, 4, 30), utc(3, 5, 20, 30)),
        Slot(DIARY, D, 1, utc(3, 5, 5, 30), diary_closes),
        Slot(PHOTO, D, 1, utc(3, 5, 5, 30), WEEK_CLOSES),
        Slot(WALK, D, 1, utc(3, 5, 5, 30), WEEK_CLOSES),
    ]


def test_reminders_due_together_follow_the_kind_order() -> None:
    """Day 119 (2 July) starts a study week and is the eve of M4: four reminders at 20:00."""
    day = date(2026, 7, 2)
    found = [s for s in slots(day, who(day0=D), open_ulcers={1}) if s.attempt == 0]
    assert [s.kind for s in found] == [VISIT, DIARY, PHOTO, WALK]
    assert {s.due_at for s in found} == {utc(7, 2, 16, 30)}


def test_the_last_study_week_s_reminder_expires_with_the_schedule_not_the_week() -> None:
    """The walk schedule ends on day 194, but the study week of day 189 runs to day 195:
    its reminder must not outlive day 194 (expires at 00:00 Tehran on day 195)."""
    day0 = date(2026, 1, 1)
    day189 = day0 + timedelta(days=189)  # 2026-07-09, the first day of a study week
    found = slots(day189, who(day0=day0, enrolled_on=day0), prefs())
    [walk] = [s for s in found if s.kind == ReminderKind.SIX_MINUTE_WALK and s.attempt == 0]
    assert walk.expires_at == datetime(2026, 7, 14, 20, 30, tzinfo=UTC)  # 2026-07-15 00:00 +03:30


def test_with_the_shipped_protocol_the_default_reminder_gets_its_nudge_before_the_quiet_hours() -> None:
    """The demo protocol's 90-minute delay: 20:00 reminder, nudge at 21:30 Tehran (18:00 UTC),
    half an hour before the quiet hours (with 120 minutes it would fall on 22:00 and never go)."""
    defaults = schedule.preferences(SHIPPED.reminders, None)
    found = schedule.slots(who(), SHIPPED, defaults, D, Progress())
    assert [(s.attempt, s.due_at, s.in_quiet_hours) for s in found if s.kind == DIARY] == [
        (0, utc(3, 5, 16, 30), False),
        (1, utc(3, 5, 18, 0), False),
    ]
