"""A six-minute walk test. The method is part of the instrument: a home phone walk and a
clinic course test are never one series."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import PatientEntryMixin, VersionedEntryMixin, str_enum
from backend.db import Base


class WalkMethod(enum.StrEnum):
    CLINIC_COURSE = "clinic_course"
    HOME_COURSE = "home_course"
    PHONE_PEDOMETER = "phone_pedometer"
    PHONE_GPS = "phone_gps"


COURSE_METHODS = (WalkMethod.CLINIC_COURSE, WalkMethod.HOME_COURSE)


class LimitingSymptom(enum.StrEnum):
    LEG_PAIN = "leg_pain"
    BREATHLESSNESS = "breathlessness"
    FATIGUE = "fatigue"
    CHEST_PAIN = "chest_pain"
    DIZZINESS = "dizziness"
    OTHER = "other"


class AssistiveDevice(enum.StrEnum):
    NONE = "none"
    CANE = "cane"
    CRUTCHES = "crutches"
    WALKER = "walker"
    OTHER = "other"


class WalkTest(PatientEntryMixin, VersionedEntryMixin, Base):
    __tablename__ = "walk_test"
    __table_args__ = (
        UniqueConstraint("participant_id", "client_uuid"),
        CheckConstraint("distance_m >= 0 AND distance_m <= 1000", name="distance_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[WalkMethod] = mapped_column(str_enum(WalkMethod, "walk_method"), index=True)
    distance_m: Mapped[float]
    duration_s: Mapped[int]
    course_length_m: Mapped[float | None]
    laps: Mapped[int | None]
    stopped_early: Mapped[bool]
    rests_count: Mapped[int]
    rests_total_s: Mapped[int]
    limiting_symptom: Mapped[LimitingSymptom | None] = mapped_column(str_enum(LimitingSymptom, "limiting_symptom"))
    borg_dyspnoea_before: Mapped[int | None]
    borg_dyspnoea_after: Mapped[int | None]
    borg_fatigue_before: Mapped[int | None]
    borg_fatigue_after: Mapped[int | None]
    supplemental_oxygen: Mapped[bool]
    oxygen_l_per_min: Mapped[float | None]
    assistive_device: Mapped[AssistiveDevice] = mapped_column(str_enum(AssistiveDevice, "assistive_device"))
    spo2_before: Mapped[int | None]
    spo2_after: Mapped[int | None]
    heart_rate_before: Mapped[int | None]
    heart_rate_after: Mapped[int | None]
    step_count: Mapped[int | None]
    # Over 700 m is possible but rare in CLI: accepted, and a nurse checks it.
    needs_review: Mapped[bool] = mapped_column(default=False)
