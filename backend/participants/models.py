"""Participants are subject codes: no names, no phone numbers, nothing that identifies."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.models import TimestampMixin, str_enum
from backend.core.timeutil import utcnow
from backend.db import Base
from backend.studies.models import Cohort, Site, Study


class ParticipantStatus(enum.StrEnum):
    SCREENING = "screening"
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"


class Leg(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"


class Participant(TimestampMixin, Base):
    __tablename__ = "participant"
    __table_args__ = (
        UniqueConstraint("study_id", "subject_code"),
        UniqueConstraint("study_id", "client_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id"), index=True)
    subject_code: Mapped[str] = mapped_column(String(32))
    target_leg: Mapped[Leg] = mapped_column(str_enum(Leg, "leg"))
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    # Study day 0: the local date of the first injection (unknown during screening).
    day0_date: Mapped[date | None]
    status: Mapped[ParticipantStatus] = mapped_column(
        str_enum(ParticipantStatus, "participant_status"), default=ParticipantStatus.SCREENING
    )
    consent_version: Mapped[str] = mapped_column(String(32))
    consent_date: Mapped[date]
    enrolled_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None]
    # Idempotency of the create: a replayed request returns this row.
    client_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    request_fingerprint: Mapped[str] = mapped_column(String(64))

    study: Mapped[Study] = relationship()
    site: Mapped[Site] = relationship()
    cohort: Mapped[Cohort | None] = relationship()


class Device(Base):
    """A phone that exchanged an activation code for a session."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    platform: Mapped[str | None] = mapped_column(String(16))
    app_version: Mapped[str | None] = mapped_column(String(32))
    activated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    participant: Mapped[Participant] = relationship()
