"""Rest-pain scores. Every version is a row; the current one of a diary day has no
superseded_at (a partial unique index allows one). Nothing is deleted or overwritten."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import PatientEntryMixin, VersionedEntryMixin
from backend.db import Base


class PainScore(PatientEntryMixin, VersionedEntryMixin, Base):
    __tablename__ = "pain_score"
    __table_args__ = (
        UniqueConstraint("participant_id", "client_uuid"),
        CheckConstraint("score BETWEEN 0 AND 10", name="nrs_range"),
        Index(
            "uq_pain_score_current_day",
            "participant_id",
            "diary_date",
            unique=True,
            sqlite_where=text("superseded_at IS NULL"),
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )

    study_day_from = "diary_date"

    id: Mapped[int] = mapped_column(primary_key=True)
    score: Mapped[int]
    note: Mapped[str | None] = mapped_column(String(500))
    # The day the score is for: the local date recorded, or the day before when filled
    # within the protocol's grace time the next morning. No index of its own: every query
    # by day is for some participants, and uq_pain_score_current_day serves it.
    diary_date: Mapped[date]
