"""Sign-in, token rotation, logout and session revocation (patient activation: activation.py).

Tokens are opaque random strings (256 bits); only their keyed hashes are stored. Every
request checks the token, its session, and the account or participant behind it, so
disabling a staff account or withdrawing a participant ends their sessions at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.orm import Session, joinedload

from backend.audit.service import record_audit
from backend.auth import throttle
from backend.auth.models import ActivationCode, AuthSession, AuthToken, SessionKind, TokenKind
from backend.auth.secrets import (
    Secrets,
    new_access_token,
    new_refresh_token,
)
from backend.config import Config
from backend.core.actor import Actor
from backend.errors import AuthenticationError
from backend.participants.models import Device, Participant, ParticipantStatus
from backend.participants.signals import participation_ended
from backend.staff.models import StaffRole, StaffUser
from backend.staff.signals import staff_disabled

log = logging.getLogger(__name__)

CLOSED_STATUSES = (ParticipantStatus.WITHDRAWN, ParticipantStatus.COMPLETED)


@dataclass(frozen=True)
class AuthSettings:
    secrets: Secrets
    access_ttl: timedelta
    staff_refresh_ttl: timedelta
    patient_refresh_ttl: timedelta
    activation_code_ttl: timedelta

    @classmethod
    def from_config(cls, config: Config) -> AuthSettings:
        return cls(
            secrets=Secrets(config.secret_key, config.password_hash_time_cost, config.password_hash_memory_kib),
            access_ttl=config.access_token_ttl,
            staff_refresh_ttl=config.staff_refresh_ttl,
            patient_refresh_ttl=config.patient_refresh_ttl,
            activation_code_ttl=config.activation_code_ttl,
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    auth_session: AuthSession

    @property
    def token_type(self) -> str:
        return "Bearer"


def issue_tokens(session: Session, settings: AuthSettings, auth_session: AuthSession, now: datetime) -> TokenPair:
    access, refresh = new_access_token(), new_refresh_token()
    access_expires = min(now + settings.access_ttl, auth_session.expires_at)
    session.add_all(
        [
            AuthToken(
                session=auth_session,
                kind=TokenKind.ACCESS,
                issued_at=now,
                expires_at=access_expires,
                token_hash=settings.secrets.keyed_hash(access),
            ),
            AuthToken(
                session=auth_session,
                kind=TokenKind.REFRESH,
                issued_at=now,
                expires_at=auth_session.expires_at,
                token_hash=settings.secrets.keyed_hash(refresh),
            ),
        ]
    )
    return TokenPair(access, access_expires, refresh, auth_session.expires_at, auth_session)


def staff_actor(user: StaffUser, request_id: str | None, session_id: int | None = None) -> Actor:
    return Actor(
        kind="staff",
        id=user.id,
        role=user.role.value,
        study_id=user.study_id,
        site_ids=None if user.role == StaffRole.ADMIN else frozenset(user.site_ids),
        session_id=session_id,
        request_id=request_id,
    )


def participant_actor(participant: Participant, request_id: str | None, session_id: int | None = None) -> Actor:
    return Actor(
        kind="participant",
        id=participant.id,
        role="patient",
        study_id=participant.study_id,
        site_ids=frozenset({participant.site_id}),
        participant_id=participant.id,
        session_id=session_id,
        request_id=request_id,
    )


def login_staff(
    session: Session,
    settings: AuthSettings,
    email: str,
    password: str,
    address: str,
    now: datetime,
    request_id: str | None = None,
) -> TokenPair:
    """Check a staff password under brute-force throttling; open a session."""
    email = email.strip().lower()
    pair_key = throttle.throttle_key(email, address)
    account_key = throttle.throttle_key(email)
    address_key = throttle.throttle_key(address)
    throttle.check(session, throttle.LOGIN_ADDRESS, address_key, now)
    throttle.check(session, throttle.LOGIN_ACCOUNT_ADDRESS, pair_key, now)
    throttle.check(session, throttle.LOGIN_ACCOUNT, account_key, now)

    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        settings.secrets.burn_password_check(password)
        ok = False
    else:
        ok = settings.secrets.verify_password(user.password_hash, password)
    if not ok or user is None or not user.is_active:
        throttle.record_failure(session, throttle.LOGIN_ADDRESS, address_key, now)
        throttle.record_failure(session, throttle.LOGIN_ACCOUNT_ADDRESS, pair_key, now)
        throttle.record_failure(session, throttle.LOGIN_ACCOUNT, account_key, now)
        session.commit()
        log.info("staff sign-in refused")
        raise AuthenticationError("E-mail or password is wrong, or the account is disabled.")

    throttle.clear(session, throttle.LOGIN_ACCOUNT_ADDRESS, pair_key)
    throttle.clear(session, throttle.LOGIN_ACCOUNT, account_key)
    if settings.secrets.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = settings.secrets.hash_password(password)
    auth_session = AuthSession(
        kind=SessionKind.STAFF, staff_user=user, created_at=now, expires_at=now + settings.staff_refresh_ttl
    )
    session.add(auth_session)
    pair = issue_tokens(session, settings, auth_session, now)
    actor = staff_actor(user, request_id)
    session.flush()
    record_audit(session, actor, "auth.login", auth_session, now=now)
    session.commit()
    return pair


def refresh_tokens(session: Session, settings: AuthSettings, refresh_token: str, now: datetime) -> TokenPair:
    """Rotate a refresh token. Presenting a used one again ends the whole session."""
    token = session.scalar(
        select(AuthToken).where(
            AuthToken.token_hash == settings.secrets.keyed_hash(refresh_token), AuthToken.kind == TokenKind.REFRESH
        )
    )
    if token is None:
        raise AuthenticationError("The refresh token is not valid.")
    auth_session = token.session
    if token.used_at is not None:
        if auth_session.revoked_at is None:
            _revoke_sessions(session, [auth_session], "refresh_token_reuse", now)
            session.commit()
            log.warning("refresh token reused; session %s revoked", auth_session.id)
        raise AuthenticationError("The refresh token was already used; the session has been ended.")
    _check_session_alive(auth_session, token, now)
    # Claim the token atomically: of two concurrent refreshes only one wins.
    claim = update(AuthToken).where(AuthToken.id == token.id, AuthToken.used_at.is_(None)).values(used_at=now)
    if not claim_once(session, claim):
        raise AuthenticationError("The refresh token was already used.")
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.session_id == auth_session.id, AuthToken.kind == TokenKind.ACCESS, AuthToken.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    pair = issue_tokens(session, settings, auth_session, now)
    session.commit()
    return pair


def claim_once(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE; True when exactly one row matched (we won any race)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount == 1


def _check_session_alive(auth_session: AuthSession, token: AuthToken, now: datetime) -> None:
    if token.revoked_at is not None or auth_session.revoked_at is not None:
        raise AuthenticationError("The session has been ended; sign in again.")
    if token.expires_at <= now or auth_session.expires_at <= now:
        raise AuthenticationError("The token has expired.")
    if auth_session.kind == SessionKind.STAFF:
        assert auth_session.staff_user is not None
        if not auth_session.staff_user.is_active:
            raise AuthenticationError("The account is disabled.")
    else:
        assert auth_session.device is not None
        if auth_session.device.revoked_at is not None:
            raise AuthenticationError("This device's access has been revoked; ask your nurse for a new code.")
        if auth_session.device.participant.status in CLOSED_STATUSES:
            raise AuthenticationError("Study participation has ended for this account.")


def authenticate_access_token(
    session: Session, settings: AuthSettings, token: str, now: datetime, request_id: str | None = None
) -> Actor:
    """Resolve a bearer access token to the Actor behind it, or refuse with 401. The
    token is read with its session and the account or phone behind it, in one query."""
    access = session.scalar(
        select(AuthToken)
        .where(AuthToken.token_hash == settings.secrets.keyed_hash(token), AuthToken.kind == TokenKind.ACCESS)
        .options(
            joinedload(AuthToken.session).joinedload(AuthSession.staff_user),
            joinedload(AuthToken.session).joinedload(AuthSession.device).joinedload(Device.participant),
        )
    )
    if access is None:
        raise AuthenticationError("The access token is not valid.")
    auth_session = access.session
    _check_session_alive(auth_session, access, now)
    if auth_session.kind == SessionKind.STAFF:
        assert auth_session.staff_user is not None
        return staff_actor(auth_session.staff_user, request_id, auth_session.id)
    assert auth_session.device is not None
    return participant_actor(auth_session.device.participant, request_id, auth_session.id)


def logout(session: Session, actor: Actor, now: datetime) -> None:
    """End the caller's session: its access and refresh tokens stop working."""
    auth_session = session.get(AuthSession, actor.session_id)
    if auth_session is not None and auth_session.revoked_at is None:
        _revoke_sessions(session, [auth_session], "logout", now)
        record_audit(session, actor, "auth.logout", auth_session, participant_id=actor.participant_id, now=now)
    session.commit()


def end_staff_session(session: Session, auth_session: AuthSession, reason: str, now: datetime) -> None:
    """End one staff session (its tokens stop working), audited as a sign-out with why;
    the caller commits. The portal ends the session behind its cookie this way."""
    if auth_session.revoked_at is not None or auth_session.staff_user is None:
        return
    _revoke_sessions(session, [auth_session], reason, now)
    actor = staff_actor(auth_session.staff_user, None, auth_session.id)
    record_audit(session, actor, "auth.logout", auth_session, reason=reason, now=now)


def _revoke_sessions(session: Session, sessions: list[AuthSession], reason: str, now: datetime) -> None:
    ids = [s.id for s in sessions]
    if not ids:
        return
    for auth_session in sessions:
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason
    session.execute(
        update(AuthToken).where(AuthToken.session_id.in_(ids), AuthToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    session.flush()


def end_staff_sessions(session: Session, staff_user_id: int, reason: str, now: datetime) -> int:
    """Revoke every open session of a staff user (caller commits)."""
    sessions = list(
        session.scalars(
            select(AuthSession).where(AuthSession.staff_user_id == staff_user_id, AuthSession.revoked_at.is_(None))
        )
    )
    _revoke_sessions(session, sessions, reason, now)
    return len(sessions)


def end_participant_sessions(session: Session, participant: Participant, reason: str, now: datetime) -> int:
    """Revoke all devices and sessions of a participant (caller commits)."""
    devices = list(
        session.scalars(select(Device).where(Device.participant_id == participant.id, Device.revoked_at.is_(None)))
    )
    for device in devices:
        device.revoked_at = now
    sessions = list(
        session.scalars(
            select(AuthSession)
            .join(Device, AuthSession.device_id == Device.id)
            .where(Device.participant_id == participant.id, AuthSession.revoked_at.is_(None))
        )
    )
    _revoke_sessions(session, sessions, reason, now)
    revoke_unused_codes(session, participant, now)
    return len(sessions)


def revoke_unused_codes(session: Session, participant: Participant, now: datetime) -> None:
    """Make the participant's codes not yet used stop working."""
    session.execute(
        update(ActivationCode)
        .where(
            ActivationCode.participant_id == participant.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


@participation_ended.connect
def _sign_out_when_ended(participant: Participant, *, session: Session, reason: str, now: datetime) -> None:
    end_participant_sessions(session, participant, reason, now)


@staff_disabled.connect
def _sign_out_disabled(user: StaffUser, *, session: Session, now: datetime) -> int:
    return end_staff_sessions(session, user.id, "account_disabled", now)


def revoke_participant_sessions(
    session: Session, actor: Actor, participant: Participant, reason: str, now: datetime
) -> int:
    """Sign every device of a participant out (a lost phone); returns how many sessions ended."""
    count = end_participant_sessions(session, participant, "revoked_by_staff", now)
    record_audit(
        session,
        actor,
        "participant.sessions_revoke",
        participant,
        after={"sessions_revoked": count},
        reason=reason,
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return count
