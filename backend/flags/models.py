"""A flag asks a nurse to look at something; acknowledging it is audited."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.models import str_enum
from backend.db import Base
from backend.participants.models import Participant


class FlagKind(enum.StrEnum):
    SYMPTOM = "symptom"
    PAIN_RISE = "pain_rise"
    WALK_DROP = "walk_drop"
    WALK_BORDERLINE = "walk_borderline"
    MISSED_DIARY = "missed_diary"
    LATE_ENTRY = "late_entry"


class Flag(Base):
    __tablename__ = "flag"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    kind: Mapped[FlagKind] = mapped_column(str_enum(FlagKind, "flag_kind"))
    urgent: Mapped[bool] = mapped_column(default=False)
    # One flag per cause: raising the same one twice (a replay, a second scan) is a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]]
    raised_at: Mapped[datetime] = mapped_column(index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    acknowledgement_note: Mapped[str | None] = mapped_column(String(1000))

    participant: Mapped[Participant] = relationship()
