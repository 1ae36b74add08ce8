"""Column helpers shared by the domain models."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import ClassVar, TypeVar

from sqlalchemy import Enum, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from backend.core.timeutil import utcnow

E = TypeVar("E", bound=enum.Enum)


def str_enum(enum_cls: type[E], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, the same on every database."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(m.value)) for m in enum_cls),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ClientEntryMixin:
    """A participant's record created idempotently: the client's UUID (unique per
    participant) and the fingerprint of the request that created it, so a replay can be
    told from a reuse of the UUID for something else."""

    # No index of its own: every table of entries is unique on (participant_id,
    # client_uuid), and that index serves lookups by participant (one index fewer to write).
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    client_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    request_fingerprint: Mapped[str] = mapped_column(String(64))


class PatientEntryMixin(ClientEntryMixin):
    """Provenance of a patient-reported value (ALCOA+): who, the device time with its UTC
    offset, the server receive time, and the local date and study day fixed at receipt, so
    that every later reader (the sync included) sees the same day."""

    # The date attribute the study day counts from (a pain score's is its diary date).
    study_day_from: ClassVar[str] = "local_date"

    recorded_at: Mapped[datetime]
    recorded_utc_offset_minutes: Mapped[int]
    received_at: Mapped[datetime]
    local_date: Mapped[date]
    study_day: Mapped[int | None]
    late_entry: Mapped[bool] = mapped_column(default=False)
    entered_by_type: Mapped[str] = mapped_column(String(16))  # participant or staff
    entered_by_id: Mapped[int]


class VersionedEntryMixin:
    """Corrections are new versions: the original row stays, marked superseded, and the new
    one points back to it with the reason. Nothing clinical is overwritten."""

    superseded_at: Mapped[datetime | None]
    correction_reason: Mapped[str | None] = mapped_column(String(1000))

    @declared_attr
    def superseded_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey(f"{cls.__tablename__}.id"))  # type: ignore[attr-defined]

    @declared_attr
    def corrects_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey(f"{cls.__tablename__}.id"))  # type: ignore[attr-defined]

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None
