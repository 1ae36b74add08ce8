"""insert_rows and among on both databases: the JSON path of PostgreSQL must write what
the plain executemany writes (types, enums, UTC times, NULLs, conflicts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.bulk import among, insert_rows
from backend.db import Base
from backend.reminders.models import Reminder, ReminderKind, ReminderStatus
from tests.factories import Factory

REMINDERS = Base.metadata.tables[Reminder.__tablename__]
TEHRAN = timezone(timedelta(hours=3, minutes=30))


def _row(participant_id: int, day: date, status: ReminderStatus, **extra: Any) -> dict[str, Any]:
    return {
        "participant_id": participant_id,
        "kind": ReminderKind.REST_PAIN_DIARY,
        "local_date": day,
        "attempt": 0,
        "due_at": datetime(2026, 3, 5, 20, 0, tzinfo=TEHRAN),  # 16:30 UTC, given in Tehran time
        "expires_at": datetime(2026, 3, 6, 6, 30, tzinfo=UTC),
        "status": status,
        "reason": extra.get("reason"),
        "tries": 0,
        "next_try_at": None,
        "created_at": datetime(2026, 3, 5, 16, 30, tzinfo=UTC),
    }


def test_rows_are_written_with_their_types_and_duplicates_are_skipped(db: Session, make: Factory) -> None:
    participant = make.participant()
    first = [_row(participant.id, date(2026, 3, 5), ReminderStatus.PENDING)]
    assert [tuple(r) for r in insert_rows(db, REMINDERS, first, returning=[REMINDERS.c.status])] == [("pending",)]

    again = [
        _row(participant.id, date(2026, 3, 5), ReminderStatus.SKIPPED, reason="opted_out"),  # the same key
        _row(participant.id, date(2026, 3, 6), ReminderStatus.SKIPPED, reason="opted_out"),
    ]
    written = insert_rows(db, REMINDERS, again, ignore_duplicates=True, returning=[REMINDERS.c.local_date])
    assert [tuple(r) for r in written] == [(date(2026, 3, 6),)]

    rows = db.scalars(select(Reminder).where(Reminder.participant_id == participant.id).order_by(Reminder.local_date))
    assert [(r.local_date, r.status, r.reason, r.due_at, r.next_try_at) for r in rows] == [
        (date(2026, 3, 5), ReminderStatus.PENDING, None, datetime(2026, 3, 5, 16, 30, tzinfo=UTC), None),
        (date(2026, 3, 6), ReminderStatus.SKIPPED, "opted_out", datetime(2026, 3, 5, 16, 30, tzinfo=UTC), None),
    ]
    ids = db.scalars(select(Reminder.id).where(Reminder.participant_id == participant.id)).all()
    assert set(db.scalars(select(Reminder.local_date).where(among(db, Reminder.id, ids)))) == {
        date(2026, 3, 5),
        date(2026, 3, 6),
    }
    assert insert_rows(db, REMINDERS, []) == []
