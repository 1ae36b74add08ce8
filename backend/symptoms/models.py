"""A symptom report. Its free text may describe anything: it is never logged."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import PatientEntryMixin, VersionedEntryMixin, str_enum
from backend.db import Base


class SymptomCategory(enum.StrEnum):
    INJECTION_SITE_REACTION = "injection_site_reaction"
    FEVER = "fever"
    LEG_PAIN_NEW_OR_WORSE = "leg_pain_new_or_worse"
    WOUND_NEW_OR_INFECTED = "wound_new_or_infected"
    SWELLING = "swelling"
    OTHER = "other"


class Severity(enum.StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class SymptomReport(PatientEntryMixin, VersionedEntryMixin, Base):
    __tablename__ = "symptom_report"
    __table_args__ = (UniqueConstraint("participant_id", "client_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[SymptomCategory] = mapped_column(str_enum(SymptomCategory, "symptom_category"))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, "severity"))
    onset_date: Mapped[date]
    description: Mapped[str | None] = mapped_column(String(2000))
