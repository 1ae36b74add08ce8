"""Sessions, opaque tokens, activation codes and brute-force counters.

Tokens and codes are stored only as keyed hashes: a copy of the database does not let
anyone sign in.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.models import str_enum
from backend.core.timeutil import utcnow
from backend.db import Base
from backend.participants.models import Device, Participant
from backend.staff.models import StaffUser


class SessionKind(enum.StrEnum):
    STAFF = "staff"
    PATIENT = "patient"


class TokenKind(enum.StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class AuthSession(Base):
    """One sign-in: a staff login or an activated patient device."""

    __tablename__ = "auth_session"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'staff' AND staff_user_id IS NOT NULL AND device_id IS NULL)"
            " OR (kind = 'patient' AND device_id IS NOT NULL AND staff_user_id IS NULL)",
            name="one_subject",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[SessionKind] = mapped_column(str_enum(SessionKind, "session_kind"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The refresh chain may not outlive this, however often it rotates.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(100))

    staff_user: Mapped[StaffUser | None] = relationship()
    device: Mapped[Device | None] = relationship()


class AuthToken(Base):
    __tablename__ = "auth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("auth_session.id"), index=True)
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind, "token_kind"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # A refresh token is used once; using it again means it was stolen.
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    session: Mapped[AuthSession] = relationship()


class ActivationCode(Base):
    """A single-use code a nurse gives a patient to activate the app."""

    __tablename__ = "activation_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"))
    revoked_at: Mapped[datetime | None]

    participant: Mapped[Participant] = relationship()


class AuthThrottle(Base):
    """Failure counter for one throttling key (an account at an address, an address)."""

    __tablename__ = "auth_throttle"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]
    last_failure_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
