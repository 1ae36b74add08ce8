"""Create and disable staff accounts (operators use the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import record_audit, record_change, snapshot
from backend.core.actor import Actor
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.staff.models import StaffRole, StaffUser
from backend.staff.signals import staff_disabled
from backend.studies.models import Site, Study

MIN_PASSWORD_LENGTH = 12


class PasswordHasher(Protocol):
    """What hashes a new password (auth.secrets.Secrets)."""

    def hash_password(self, password: str) -> str: ...


def create_staff(
    session: Session,
    secrets: PasswordHasher,
    actor: Actor,
    study: Study,
    email: str,
    password: str,
    role: StaffRole,
    site_codes: list[str],
    now: datetime,
) -> StaffUser:
    """Create a staff account with its site memberships."""
    email = email.strip().lower()
    if "@" not in email:
        raise ValidationFailed("email: not an e-mail address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: use at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        raise Conflict(f"A staff account for {email} exists already.")
    sites = list(session.scalars(select(Site).where(Site.study_id == study.id, Site.code.in_(site_codes))))
    missing = sorted(set(site_codes) - {s.code for s in sites})
    if missing:
        raise ValidationFailed(f"sites: no such site(s) in {study.code}: {', '.join(missing)}.")
    if role != StaffRole.ADMIN and not sites:
        raise ValidationFailed("sites: every role but admin needs at least one site.")
    user = StaffUser(
        study=study,
        email=email,
        password_hash=secrets.hash_password(password),
        role=role,
        sites=sites,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor,
        "staff.create",
        user,
        after={**snapshot(user), "sites": sorted(site_codes)},
        study_id=study.id,
        now=now,
    )
    session.commit()
    return user


def disable_staff(session: Session, actor: Actor, email: str, reason: str, now: datetime) -> int:
    """Disable an account; its open sessions end at once. Returns how many ended."""
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"No staff account {email}.")
    before = snapshot(user)
    user.is_active = False
    user.disabled_at = now
    ended: int = sum(count for _receiver, count in staff_disabled.send(user, session=session, now=now))
    record_change(session, actor, "staff.disable", user, before, reason=reason, study_id=user.study_id, now=now)
    session.commit()
    return ended
