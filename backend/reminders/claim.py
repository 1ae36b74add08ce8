"""Claim reminders for one dispatcher, so that a reminder is handed to FCM at most once.

The claim commits before anything is sent. Rows due later, retries and rows held over
the quiet hours are claimed from the queue in one UPDATE (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several machines can dispatch at once; SQLite's single writer elsewhere).
A dispatcher killed mid-send leaves its rows in `sending`: they are closed as
`interrupted`, never sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db import begin_as_writer
from backend.reminders.models import Reminder, ReminderStatus
from backend.reminders.record import DispatchReport, reminders_table

CHUNK = 500  # participants planned, or reminders claimed, per transaction
STALE_CLAIM = timedelta(minutes=10)

# What sending needs of a claimed row, whether the planner or claim_due claimed it.
CLAIMED = (
    reminders_table.c.id,
    reminders_table.c.participant_id,
    reminders_table.c.kind,
    reminders_table.c.local_date,
    reminders_table.c.attempt,
    reminders_table.c.expires_at,
    reminders_table.c.tries,
    reminders_table.c.claimed_by,
)


def close_abandoned(session: Session, now: datetime, report: DispatchReport) -> None:
    """Fail rows whose window closed unsent, and claims whose dispatcher died."""
    begin_as_writer(session)
    expired = session.execute(
        update(Reminder)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.expires_at <= now)
        .values(status=ReminderStatus.FAILED, reason="window_closed", next_try_at=None)
    )
    # At most once: a claim whose dispatcher died may or may not have reached FCM.
    interrupted = session.execute(
        update(Reminder)
        .where(Reminder.status == ReminderStatus.SENDING, Reminder.claimed_at < now - STALE_CLAIM)
        .values(status=ReminderStatus.FAILED, reason="interrupted", next_try_at=None)
    )
    report.failed += expired.rowcount + interrupted.rowcount  # type: ignore[attr-defined]
    session.commit()


def claim_due(session: Session, now: datetime, worker: str) -> Sequence[Any]:
    """Claim up to CHUNK pending rows due by `now` for `worker`, and commit the claim."""
    begin_as_writer(session)
    # A CTE, not `id IN (subquery)`: PostgreSQL may re-evaluate an IN subquery when it
    # meets rows another dispatcher locked, and then claim more than CHUNK rows.
    picked = (
        select(Reminder.id)
        .where(Reminder.status == ReminderStatus.PENDING, Reminder.next_try_at <= now)
        .order_by(Reminder.next_try_at, Reminder.id)
        .limit(CHUNK)
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    claimed = session.execute(
        update(Reminder)
        .where(Reminder.id == picked.c.id, Reminder.status == ReminderStatus.PENDING)
        .values(status=ReminderStatus.SENDING, claimed_at=now, claimed_by=worker, tries=Reminder.tries + 1)
        .returning(*CLAIMED),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()  # claimed before anything is sent: never sent twice
    return claimed
