"""Portal sign-ins on the server: open one with a staff password, resume it from the
cookie's token on each request (judging the idle timeout here), end it.

No Flask here: the cookie is routes' and session.py's business; this module sees only
the token.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from backend.auth.models import AuthSession, AuthToken
from backend.auth.service import AuthSettings, end_staff_session, login_staff, staff_actor
from backend.core.actor import Actor
from backend.portal.models import PortalSession

IDLE_TIMEOUT = timedelta(minutes=30)

# The first statement of a request's transaction writes, so that SQLite takes its write
# lock at once (a reader upgrading after another tab wrote would fail outright), and an
# idle or ended sign-in matches nothing.
_TOUCH = (
    update(PortalSession)
    .where(
        PortalSession.token_hash == bindparam("hash"),
        PortalSession.ended_at.is_(None),
        PortalSession.last_seen_at > bindparam("idle_since"),
    )
    .values(last_seen_at=bindparam("seen"))
    .returning(PortalSession.auth_session_id)
)


def open_portal_session(
    session: Session,
    settings: AuthSettings,
    email: str,
    password: str,
    address: str,
    now: datetime,
    request_id: str | None,
    replacing: str | None = None,
) -> str:
    """Check the password (throttled and audited as for the API) and open a portal
    sign-in; returns the token for the cookie. A sign-in this browser already had ends."""
    if replacing:
        end_portal_session(session, settings, replacing, "replaced", now)
    pair = login_staff(session, settings, email, password, address, now, request_id)
    # The portal never hands API tokens to the browser: the ones the login made are void.
    session.execute(
        update(AuthToken)
        .where(AuthToken.session_id == pair.auth_session.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hash=settings.secrets.keyed_hash(token),
            auth_session_id=pair.auth_session.id,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.commit()
    return token


def resume_portal_session(
    session: Session, settings: AuthSettings, token: str, now: datetime, request_id: str | None
) -> Actor | None:
    """The staff member of a live portal sign-in, or None: unknown, ended, idle for
    IDLE_TIMEOUT (then it ends, with its staff session), or its staff session was ended or
    the account disabled."""
    token_hash = settings.secrets.keyed_hash(token)
    params = {"hash": token_hash, "idle_since": now - IDLE_TIMEOUT, "seen": now}
    auth_session_id = session.execute(_TOUCH, params).scalar_one_or_none()
    if auth_session_id is None:
        end_portal_session(session, settings, token, "idle_timeout", now)
        return None
    auth_session = session.get(AuthSession, auth_session_id)
    assert auth_session is not None  # a foreign key
    user = auth_session.staff_user
    if auth_session.revoked_at is not None or auth_session.expires_at <= now or user is None or not user.is_active:
        end_portal_session(session, settings, token, "staff_session_ended", now)
        return None
    return staff_actor(user, request_id, auth_session.id)  # the request commits the renewal


def end_portal_session(session: Session, settings: AuthSettings, token: str, reason: str, now: datetime) -> None:
    """End a portal sign-in and the staff session behind it (sign-out, idle timeout)."""
    row = session.scalar(select(PortalSession).where(PortalSession.token_hash == settings.secrets.keyed_hash(token)))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        end_staff_session(session, row.auth_session, reason, now)
    session.commit()
