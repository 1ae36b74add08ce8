"""Data locks: a participant's data, whole or one visit's, frozen or locked at close-out.

A lock row is never deleted or changed except to release it: a change of level releases
the active row and starts a new one that points back (`replaces_id`), so the history of
who froze, locked and released what, when and why stays readable beside the audit trail.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.models import str_enum
from backend.db import Base


class LockLevel(enum.StrEnum):
    """Frozen data may be changed by study-level staff (admins) only; locked data by nobody."""

    FROZEN = "frozen"
    LOCKED = "locked"


ACTIVE = "released_at IS NULL"


class DataLock(Base):
    """A freeze or lock of one participant's data: all of it (visit_code NULL) or the
    records whose study day falls in one visit's window of the current protocol."""

    __tablename__ = "data_lock"
    __table_args__ = (
        # At most one active lock per participant and visit, and one for the whole
        # participant. Two partial indexes, because a unique index treats NULLs as
        # distinct on both databases (PostgreSQL's NULLS NOT DISTINCT is not portable).
        Index(
            "uq_data_lock_active_visit",
            "participant_id",
            "visit_code",
            unique=True,
            sqlite_where=text(f"{ACTIVE} AND visit_code IS NOT NULL"),
            postgresql_where=text(f"{ACTIVE} AND visit_code IS NOT NULL"),
        ),
        Index(
            "uq_data_lock_active_participant",
            "participant_id",
            unique=True,
            sqlite_where=text(f"{ACTIVE} AND visit_code IS NULL"),
            postgresql_where=text(f"{ACTIVE} AND visit_code IS NULL"),
        ),
        # A release says who and why, always together.
        CheckConstraint(
            "(released_at IS NULL AND released_by_id IS NULL AND release_reason IS NULL)"
            " OR (released_at IS NOT NULL AND released_by_id IS NOT NULL AND release_reason IS NOT NULL)",
            name="release_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    visit_code: Mapped[str | None] = mapped_column(String(32))  # None: the whole participant
    # A visit lock's window (inclusive study days) as the protocol had it when the lock was
    # set: a later protocol version that moves, renames or drops the visit must not unlock
    # what was locked.
    window_start_day: Mapped[int | None]
    window_end_day: Mapped[int | None]
    level: Mapped[LockLevel] = mapped_column(str_enum(LockLevel, "lock_level"))
    reason: Mapped[str] = mapped_column(String(1000))
    set_at: Mapped[datetime]
    set_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    # The lock this one replaced when the level changed (that one is released).
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("data_lock.id"))
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    release_reason: Mapped[str | None] = mapped_column(String(1000))

    @property
    def is_active(self) -> bool:
        return self.released_at is None
