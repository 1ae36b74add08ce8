"""Amputation events. Staff record them (the patient app does not); every correction or
void is a new version and nothing is deleted. The weekly trial sync derives
MAJOR_AMPUTATION and MINOR_AMPUTATION from the current, not voided, versions: the date,
the leg (compared with the participant's target leg) and the level. Nothing identifying
is stored: no hospital, surgeon or record number."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import ClientEntryMixin, VersionedEntryMixin, str_enum
from backend.db import Base
from backend.participants.models import Leg


class AmputationLevel(enum.StrEnum):
    """The standard levels of lower-limb amputation, from distal to proximal."""

    TOE = "toe"
    RAY = "ray"
    TRANSMETATARSAL = "transmetatarsal"
    LISFRANC = "lisfranc"
    CHOPART = "chopart"
    SYME = "syme"
    TRANSTIBIAL = "transtibial"
    KNEE_DISARTICULATION = "knee_disarticulation"
    TRANSFEMORAL = "transfemoral"
    HIP_DISARTICULATION = "hip_disarticulation"
    HEMIPELVECTOMY = "hemipelvectomy"


MAJOR_LEVELS = frozenset(
    {
        AmputationLevel.TRANSTIBIAL,
        AmputationLevel.KNEE_DISARTICULATION,
        AmputationLevel.TRANSFEMORAL,
        AmputationLevel.HIP_DISARTICULATION,
        AmputationLevel.HEMIPELVECTOMY,
    }
)


def is_major(level: AmputationLevel) -> bool:
    """Whether an amputation at `level` is major: above the ankle, transtibial and up.

    The protocol's endpoint (docs/design.md: "major: above the ankle") follows the usual CLI
    trial convention (TASC II; the SVS objective performance goals for CLI): a major
    amputation is one above the ankle, everything through the foot is minor. A Syme
    amputation is a disarticulation *at* the ankle joint (tibiotalar; the heel pad is kept
    and the stump bears weight), not above it, so it counts as minor, like the foot levels
    (toe, ray, transmetatarsal, Lisfranc, Chopart). Registries that define major as "at or
    above the ankle" would count it major; the level is stored with every event, so a
    protocol with that convention can derive its own value from the same rows.
    """
    return level in MAJOR_LEVELS


_MAJOR_SQL = ", ".join(f"'{level.value}'" for level in AmputationLevel if level in MAJOR_LEVELS)


class AmputationEvent(ClientEntryMixin, VersionedEntryMixin, Base):
    """One amputation of one leg on one local date, as staff recorded it.

    The current version of an event has no superseded_at; a void (an event entered on the
    wrong participant, say) is a current version with `voided` set, so the record of what
    was entered, by whom and why it was withdrawn stays readable.
    """

    __tablename__ = "amputation_event"
    __table_args__ = (
        UniqueConstraint("participant_id", "client_uuid"),
        # The stored flag can never disagree with the level it is derived from.
        CheckConstraint(f"major = (level IN ({_MAJOR_SQL}))", name="major_matches_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_on: Mapped[date]  # the participant's local date
    leg: Mapped[Leg] = mapped_column(str_enum(Leg, "leg"))
    level: Mapped[AmputationLevel] = mapped_column(str_enum(AmputationLevel, "amputation_level"))
    major: Mapped[bool]
    note: Mapped[str | None] = mapped_column(String(1000))
    voided: Mapped[bool] = mapped_column(default=False)
    recorded_at: Mapped[datetime]  # server time of this version
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
