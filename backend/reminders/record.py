"""Record what a dispatcher run did: the delivery log, each claimed reminder's new state
and the retired tokens, in one commit per batch; and the run's counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.bulk import among, insert_rows
from backend.db import Base, begin_as_writer
from backend.reminders.models import DeliveryOutcome, PushDelivery, PushDevice, Reminder, ReminderStatus
from backend.reminders.senders import Push, SendResult
from backend.reminders.service import retire_device

MAX_TRIES = 6
FIRST_BACKOFF = timedelta(minutes=1)  # what FCM asks for after QUOTA_EXCEEDED
MAX_BACKOFF = timedelta(hours=1)

# Core, not the ORM: bulk statements over thousands of rows, nothing to track.
reminders_table = Base.metadata.tables[Reminder.__tablename__]
_deliveries = Base.metadata.tables[PushDelivery.__tablename__]


@dataclass
class DispatchReport:
    planned: int = 0
    skipped: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    tokens_retired: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self))


@dataclass(frozen=True)
class Outgoing:
    reminder_id: int
    push_device_id: int
    push: Push


def state(
    reminder: Any,
    status: ReminderStatus,
    reason: str | None = None,
    *,
    sent_at: datetime | None = None,
    next_try_at: datetime | None = None,
    release: bool = False,
) -> dict[str, Any]:
    """A claimed reminder's new state; `release` puts it back as if it was never claimed."""
    return {
        "b_id": reminder.id,
        "b_worker": reminder.claimed_by,
        "status": status,
        "reason": reason,
        "sent_at": sent_at,
        "next_try_at": next_try_at,
        "tries": reminder.tries - 1 if release else reminder.tries,
        "claimed_by": None if release else reminder.claimed_by,
    }


# Only while the claim is still ours: a run that took longer than STALE_CLAIM may have
# been closed as interrupted by another dispatcher, and that verdict stands.
_FINISH = (
    update(reminders_table)
    .where(
        reminders_table.c.id == bindparam("b_id"),
        reminders_table.c.claimed_by == bindparam("b_worker"),
        reminders_table.c.status == ReminderStatus.SENDING,
    )
    .values({name: bindparam(name) for name in ("status", "reason", "sent_at", "next_try_at", "tries", "claimed_by")})
)


def record(
    session: Session,
    sender_name: str,
    batch: Sequence[Any],
    finished: dict[int, dict[str, Any]],
    results: list[tuple[Outgoing, SendResult]],
    now: datetime,
    report: DispatchReport,
    stopped: bool = False,
) -> None:
    """Write the delivery log, the reminders' new states and retired tokens, in one commit.
    `stopped`: the run stops on a configuration error, so what was not sent is released."""
    begin_as_writer(session)
    by_reminder: dict[int, list[SendResult]] = defaultdict(list)
    for item, result in results:
        by_reminder[item.reminder_id].append(result)
    for reminder in batch:
        if reminder.id in finished:
            continue
        finished[reminder.id] = _outcome(reminder, by_reminder.get(reminder.id, []), now, stopped)

    if results:
        insert_rows(
            session,
            _deliveries,
            [
                {
                    "reminder_id": item.reminder_id,
                    "push_device_id": item.push_device_id,
                    "attempted_at": now,
                    "sender": sender_name,
                    "outcome": result.outcome,
                    "message_id": result.message_id,
                    "error_code": result.error_code,
                    "error_message": result.error_message,
                    "retry_after_seconds": result.retry_after_seconds,
                }
                for item, result in results
            ],
        )
    gone = {
        item.push_device_id: result.error_code
        for item, result in results
        if result.outcome == DeliveryOutcome.TOKEN_RETIRED
    }
    if gone:
        dispatcher = Actor.system("flask reminders dispatch")
        for device in session.scalars(
            select(PushDevice).where(among(session, PushDevice.id, list(gone)), PushDevice.retired_at.is_(None))
        ):
            retire_device(session, dispatcher, device, (gone[device.id] or "unregistered").lower(), now)
    report.tokens_retired += len(gone)
    sent = [s for s in finished.values() if s["status"] == ReminderStatus.SENT]
    others = [s for s in finished.values() if s["status"] != ReminderStatus.SENT]
    if sent:  # the usual case, one statement for the batch (all share worker and time)
        session.execute(
            update(reminders_table)
            .where(
                among(session, reminders_table.c.id, [s["b_id"] for s in sent]),
                reminders_table.c.claimed_by == sent[0]["b_worker"],
                reminders_table.c.status == ReminderStatus.SENDING,
            )
            .values(status=ReminderStatus.SENT, sent_at=now, reason=None, next_try_at=None)
        )
    if others:
        session.execute(_FINISH, others)
    for new in finished.values():
        _count(report, new)
    session.commit()


def _count(report: DispatchReport, new: dict[str, Any]) -> None:
    status = new["status"]
    if status == ReminderStatus.SENT:
        report.sent += 1
    elif status == ReminderStatus.FAILED:
        report.failed += 1
    elif status == ReminderStatus.SKIPPED:
        report.skipped += 1
    elif new["reason"] is not None:  # back to pending for a later try
        report.retrying += 1


def _outcome(reminder: Any, results: list[SendResult], now: datetime, stopped: bool) -> dict[str, Any]:
    if any(r.outcome == DeliveryOutcome.SENT for r in results):
        return state(reminder, ReminderStatus.SENT, sent_at=now)
    if stopped:
        # Not sent because the run stopped (some of its phones may not have been tried):
        # back to the queue, as if never claimed.
        return state(reminder, ReminderStatus.PENDING, next_try_at=now, release=True)
    retry = [r for r in results if r.outcome == DeliveryOutcome.RETRY]
    reason = (retry or results)[0].error_code
    if not retry:
        return state(reminder, ReminderStatus.FAILED, reason)
    wait = max(
        timedelta(seconds=max(r.retry_after_seconds or 0 for r in retry)),
        min(FIRST_BACKOFF * 2 ** (reminder.tries - 1), MAX_BACKOFF),
    )
    if reminder.tries >= MAX_TRIES or now + wait >= reminder.expires_at:
        return state(reminder, ReminderStatus.FAILED, reason)
    return state(reminder, ReminderStatus.PENDING, reason, next_try_at=now + wait)
