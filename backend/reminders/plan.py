"""Plan reminders: which rows are due by now, for a chunk of participants at a time.

Planning writes one row per (participant, kind, local date, attempt); the unique key
turns a second planner's insert into a no-op. A row due at once is written already
claimed by the planner (`sending`, its worker): the insert that wins the unique key owns
it, so a freshly planned reminder costs one write before it is sent, not two.
Participants are read by id (keyset), so memory does not grow with the study and the
first pushes leave before the last participants are planned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.bulk import insert_rows
from backend.db import begin_as_writer
from backend.participants.models import Participant, ParticipantStatus
from backend.reminders import claim, schedule
from backend.reminders.models import Reminder, ReminderKind, ReminderStatus
from backend.reminders.record import DispatchReport, reminders_table
from backend.reminders.send import Recipients, read_recipients
from backend.studies.document import StudyProtocol


def plan_reminders(session: Session, now: datetime, report: DispatchReport) -> None:
    """Write the reminder rows that are due by `now` as pending, claimed by nobody."""
    for _ in plan_chunks(session, now, report):
        pass


def plan_chunks(
    session: Session, now: datetime, report: DispatchReport, claim_for: tuple[str, Callable[[], datetime]] | None = None
) -> Iterator[tuple[Sequence[Any], Recipients]]:
    """Plan a chunk of participants at a time. With `claim_for` (worker, clock), the rows
    to send are written claimed by that worker and yielded, chunk by chunk, once committed,
    with what the planner read of their recipients."""
    last_id = 0
    while people := _read_chunk(session, last_id):
        worker, claimed_at = (claim_for[0], max(now, claim_for[1]())) if claim_for else (None, None)
        mine, recipients = _plan_chunk(session, people, now, report, worker, claimed_at)
        if mine:
            yield mine, recipients
        last_id = people[-1].id


def _read_chunk(session: Session, after_id: int) -> Sequence[Any]:
    """The next CHUNK active participants by id; their reads and inserts are one transaction."""
    begin_as_writer(session)
    return session.execute(
        select(
            Participant.id,
            Participant.study_id,
            Participant.timezone,
            Participant.day0_date,
            Participant.enrolled_at,
            Participant.language,
            Participant.status,
        )
        .where(Participant.status == ParticipantStatus.ACTIVE, Participant.id > after_id)
        .order_by(Participant.id)
        .limit(claim.CHUNK)
    ).all()


def _plan_chunk(
    session: Session,
    people: Sequence[Any],
    now: datetime,
    report: DispatchReport,
    worker: str | None,
    claimed_at: datetime | None,
) -> tuple[list[Any], Recipients]:
    """Write the chunk's due rows and commit; the rows claimed for `worker` come back,
    with the chunk's recipients (read once here, for planning and for sending)."""
    # The chunk's ids are consecutive in id order: a range, not a 500-item IN list (whose
    # placeholders cost more to render and parse than the query does to run). Rows of
    # participants in the range who are not active are read too, and ignored.
    first, last = people[0].id, people[-1].id
    recipients = read_recipients(
        session,
        people,
        lambda column: column.between(first, last),
        now,
        since=now.date() - timedelta(days=2),
        weeks_since=now.date() - timedelta(days=9),  # covers yesterday's study week in any zone
    )
    rows = [_row(d, now, worker, claimed_at) for d in _decide(session, people, recipients, now)]
    inserted: Sequence[Any] = []
    if rows:
        # A row another dispatcher planned first stays its (and its claim); ours come back.
        returning = [*claim.CLAIMED, reminders_table.c.status]
        inserted = insert_rows(session, reminders_table, rows, ignore_duplicates=True, returning=returning)
        report.planned += sum(1 for row in inserted if row.status != ReminderStatus.SKIPPED)
        report.skipped += sum(1 for row in inserted if row.status == ReminderStatus.SKIPPED)
    session.commit()  # claimed before anything is sent: never sent twice
    return [row for row in inserted if row.status == ReminderStatus.SENDING], recipients


def _decide(
    session: Session, people: Sequence[Any], recipients: Recipients, now: datetime
) -> Iterator[tuple[int, schedule.Decision]]:
    """Plan every participant of the chunk from the rows already written and their progress."""
    first, last = people[0].id, people[-1].id
    existing: dict[int, dict[tuple[ReminderKind, date, int], ReminderStatus]] = defaultdict(dict)
    for r in session.execute(
        select(Reminder.participant_id, Reminder.kind, Reminder.local_date, Reminder.attempt, Reminder.status).where(
            Reminder.participant_id.between(first, last), Reminder.local_date >= now.date() - timedelta(days=2)
        )
    ):
        existing[r.participant_id][(r.kind, r.local_date, r.attempt)] = r.status
    studies: dict[int, tuple[StudyProtocol, schedule.Preferences]] = {}
    for p in people:
        if p.study_id not in studies:
            protocol = recipients.protocols[p.study_id]
            studies[p.study_id] = (protocol, schedule.preferences(protocol.reminders, None))
        protocol, study_prefs = studies[p.study_id]
        assert p.enrolled_at is not None  # active participants are enrolled
        who = schedule.Who(p.id, p.timezone, p.day0_date, p.enrolled_at.astimezone(ZoneInfo(p.timezone)).date())
        own = recipients.settings.get(p.id)
        prefs = study_prefs if own is None else schedule.preferences(protocol.reminders, own)
        progress = recipients.progress[p.id]
        has_device = p.id in recipients.devices
        for decision in schedule.plan(who, protocol, prefs, now, progress, existing[p.id], has_device):
            yield p.id, decision


def _row(
    item: tuple[int, schedule.Decision], now: datetime, worker: str | None, claimed_at: datetime | None
) -> dict[str, Any]:
    participant_id, decision = item
    slot = decision.slot
    pending = decision.status == ReminderStatus.PENDING
    claimed = pending and worker is not None
    return {
        "participant_id": participant_id,
        "kind": slot.kind,
        "local_date": slot.local_date,
        "attempt": slot.attempt,
        "due_at": slot.due_at,
        "expires_at": slot.expires_at,
        "status": ReminderStatus.SENDING if claimed else decision.status,
        "reason": decision.reason,
        "tries": 1 if claimed else 0,
        "next_try_at": slot.due_at if pending else None,
        "claimed_at": claimed_at if claimed else None,
        "claimed_by": worker if claimed else None,
        "created_at": now,
    }
