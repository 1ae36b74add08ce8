"""Push devices, reminder settings, the reminders themselves and their delivery log.

A reminder row is created once per (participant, kind, local date, attempt) — the unique
key is what makes dispatch send each reminder at most once, however many dispatchers run.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import str_enum
from backend.core.timeutil import utcnow
from backend.db import Base


class Platform(enum.StrEnum):
    IOS = "ios"
    ANDROID = "android"


class ReminderKind(enum.StrEnum):
    """In the order a planning pass considers them when several fall due together."""

    INJECTION_DAY = "injection_day"
    VISIT_TOMORROW = "visit_tomorrow"
    REST_PAIN_DIARY = "rest_pain_diary"
    ULCER_PHOTO = "ulcer_photo"
    SIX_MINUTE_WALK = "six_minute_walk"


class ReminderStatus(enum.StrEnum):
    PENDING = "pending"  # due, waiting for a dispatcher (or for its next try)
    SENDING = "sending"  # claimed by a dispatcher; the send is in flight
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class PushDevice(Base):
    """A phone's FCM registration token. A token belongs to one participant at a time:
    registering it for someone else retires this row and starts a new one."""

    __tablename__ = "push_device"
    __table_args__ = (
        Index(
            "uq_push_device_active_token",
            "fcm_token",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    # The activated app install (and its session) that registered the token.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    fcm_token: Mapped[str] = mapped_column(String(1024))
    platform: Mapped[Platform] = mapped_column(str_enum(Platform, "push_platform"))
    app_version: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(35))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    # removed, replaced, reassigned, stale, unregistered, invalid_token, signed_out
    retired_reason: Mapped[str | None] = mapped_column(String(32))

    @property
    def token_preview(self) -> str:
        """Enough of the token to tell two apart, not enough to send with."""
        return self.fcm_token[:8] + "…"


class ReminderSettings(Base):
    """A participant's own choices; a missing row or a null means the protocol default."""

    __tablename__ = "reminder_settings"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), primary_key=True)
    diary_time: Mapped[time | None]
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    opted_out: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reminder(Base):
    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("participant_id", "kind", "local_date", "attempt"),
        Index("ix_reminder_status_next_try_at", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))  # indexed by the unique key
    kind: Mapped[ReminderKind] = mapped_column(str_enum(ReminderKind, "reminder_kind"))
    # The participant's local day the reminder is for: the diary day, the first day of
    # the study week, the day before the visit, the injection day.
    local_date: Mapped[date]
    attempt: Mapped[int]  # 0: the reminder, 1: the one follow-up nudge
    due_at: Mapped[datetime]
    # When the task's window closes: the push is never delivered after this (its TTL).
    expires_at: Mapped[datetime]
    status: Mapped[ReminderStatus] = mapped_column(str_enum(ReminderStatus, "reminder_status"))
    # Why it was skipped or failed: opted_out, already_done, quiet_hours, daily_limit,
    # no_device, window_closed, interrupted, or the FCM error code.
    reason: Mapped[str | None] = mapped_column(String(32))
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryOutcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a transient error: the reminder is tried again later
    FAILED = "failed"
    TOKEN_RETIRED = "token_retired"  # noqa: S105 (not a secret) FCM says the token is gone or invalid


class PushDelivery(Base):
    """The delivery log: one row per message handed to a sender, whatever came of it."""

    __tablename__ = "push_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminder.id"), index=True)
    push_device_id: Mapped[int] = mapped_column(ForeignKey("push_device.id"), index=True)
    attempted_at: Mapped[datetime]
    sender: Mapped[str] = mapped_column(String(16))  # fcm or log
    outcome: Mapped[DeliveryOutcome] = mapped_column(str_enum(DeliveryOutcome, "delivery_outcome"))
    message_id: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    retry_after_seconds: Mapped[int | None]
