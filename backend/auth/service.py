"""Sign-in, token rotation, logout, patient activation and session revocation.

Tokens are opaque random strings (256 bits); only their keyed hashes are stored. Every
request checks the token, its session, and the account or participant behind it, so
disabling a staff account or withdrawing a participant ends their sessions at once.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import qrcode
from sqlalchemy import CursorResult, Update, bindparam, select, update
from sqlalchemy.orm import Session, undefer

from backend.audit.service import record_audit
from backend.auth import throttle
from backend.auth.models import ActivationCode, AuthSession, AuthToken, SessionKind, TokenKind
from backend.auth.secrets import (
    Secrets,
    format_activation_code,
    new_access_token,
    new_activation_code,
    new_refresh_token,
    normalise_activation_code,
)
from backend.config import Config
from backend.core.actor import Actor
from backend.errors import AuthenticationError, Conflict, Gone, PermissionDenied
from backend.participants.models import Device, Participant, ParticipantStatus
from backend.staff.models import StaffRole, StaffUser

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


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime
    participant: Participant

    @property
    def qr_payload(self) -> str:
        return f"limbtrack://activate?code={self.code}"

    @property
    def qr_png_base64(self) -> str:
        buffer = io.BytesIO()
        qrcode.make(self.qr_payload, border=2).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def _issue_tokens(session: Session, settings: AuthSettings, auth_session: AuthSession, now: datetime) -> TokenPair:
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


def _participant_actor(participant: Participant, request_id: str | None, session_id: int | None = None) -> Actor:
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
    pair = _issue_tokens(session, settings, auth_session, now)
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
    _check_session_alive(_liveness(auth_session, token), now)
    # Claim the token atomically: of two concurrent refreshes only one wins.
    claim = update(AuthToken).where(AuthToken.id == token.id, AuthToken.used_at.is_(None)).values(used_at=now)
    if not _claim(session, claim):
        raise AuthenticationError("The refresh token was already used.")
    session.execute(
        update(AuthToken)
        .where(
            AuthToken.session_id == auth_session.id, AuthToken.kind == TokenKind.ACCESS, AuthToken.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    pair = _issue_tokens(session, settings, auth_session, now)
    session.commit()
    return pair


def _claim(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE; True when exactly one row matched (we won any race)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount == 1


@dataclass(frozen=True)
class _Liveness:
    """What decides whether a token still works, whichever way it was read."""

    token_revoked_at: datetime | None
    token_expires_at: datetime
    session_kind: SessionKind
    session_revoked_at: datetime | None
    session_expires_at: datetime
    staff_user: StaffUser | None
    device_revoked_at: datetime | None
    participant: Participant | None


def _liveness(auth_session: AuthSession, token: AuthToken) -> _Liveness:
    device = auth_session.device
    return _Liveness(
        token.revoked_at,
        token.expires_at,
        auth_session.kind,
        auth_session.revoked_at,
        auth_session.expires_at,
        auth_session.staff_user,
        None if device is None else device.revoked_at,
        None if device is None else device.participant,
    )


def _check_session_alive(alive: _Liveness, now: datetime) -> None:
    if alive.token_revoked_at is not None or alive.session_revoked_at is not None:
        raise AuthenticationError("The session has been ended; sign in again.")
    if alive.token_expires_at <= now or alive.session_expires_at <= now:
        raise AuthenticationError("The token has expired.")
    if alive.session_kind == SessionKind.STAFF:
        assert alive.staff_user is not None
        if not alive.staff_user.is_active:
            raise AuthenticationError("The account is disabled.")
    else:
        assert alive.participant is not None
        if alive.device_revoked_at is not None:
            raise AuthenticationError("This device's access has been revoked; ask your nurse for a new code.")
        if alive.participant.status in CLOSED_STATUSES:
            raise AuthenticationError("Study participation has ended for this account.")


# One query, on every request: the columns that decide whether an access token still
# works, and the participant behind it as an entity (it stays in the identity map, so
# participant_in_scope() does not read it again). Built once: building it took a third of
# the CPU of authenticating; loading the token, session and device as entities (joinedload)
# cost more than their few columns. A staff user is read by id afterwards: as a second
# entity in this query, always NULL for the patient app, it cost 3 % of a pain-score POST.
_ACCESS_TOKEN = (
    select(
        AuthToken.revoked_at,
        AuthToken.expires_at,
        AuthSession.id,
        AuthSession.kind,
        AuthSession.revoked_at,
        AuthSession.expires_at,
        Device.revoked_at,
        Participant,
        AuthSession.staff_user_id,
    )
    .join(AuthSession, AuthToken.session_id == AuthSession.id)
    .outerjoin(Device, AuthSession.device_id == Device.id)
    .outerjoin(Participant, Device.participant_id == Participant.id)
    .where(AuthToken.token_hash == bindparam("token_hash"), AuthToken.kind == TokenKind.ACCESS)
    # Read with the participant, in the request's transaction: a write of the patient app
    # then needs no query of its own to find that no data lock is active (locks.service).
    .options(undefer(Participant.has_active_lock))
)


def authenticate_access_token(
    session: Session, settings: AuthSettings, token: str, now: datetime, request_id: str | None = None
) -> Actor:
    """Resolve a bearer access token to the Actor behind it, or refuse with 401."""
    row = session.execute(_ACCESS_TOKEN, {"token_hash": settings.secrets.keyed_hash(token)}).one_or_none()
    if row is None:
        raise AuthenticationError("The access token is not valid.")
    (
        token_revoked,
        token_expires,
        session_id,
        kind,
        session_revoked,
        session_expires,
        device_revoked,
        participant,
        staff_user_id,
    ) = row
    user = None if staff_user_id is None else session.get(StaffUser, staff_user_id)
    # The identity map holds objects weakly: keep the subject for the request.
    session.info["authenticated_subject"] = participant or user
    _check_session_alive(
        _Liveness(
            token_revoked, token_expires, kind, session_revoked, session_expires, user, device_revoked, participant
        ),
        now,
    )
    if kind == SessionKind.STAFF:
        assert user is not None
        return staff_actor(user, request_id, session_id)
    assert participant is not None
    return _participant_actor(participant, request_id, session_id)


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
    session.execute(
        update(ActivationCode)
        .where(
            ActivationCode.participant_id == participant.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return len(sessions)


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


def issue_activation_code(
    session: Session, settings: AuthSettings, actor: Actor, participant: Participant, now: datetime
) -> IssuedCode:
    """Issue a single-use code for the participant's app; earlier unused codes stop working."""
    if participant.status in CLOSED_STATUSES:
        raise Conflict(f"Participant is {participant.status.value}; no new activation codes.")
    session.execute(
        update(ActivationCode)
        .where(
            ActivationCode.participant_id == participant.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = new_activation_code()
    row = ActivationCode(
        participant=participant,
        code_hash=settings.secrets.keyed_hash(code),
        issued_by_id=actor.id,
        issued_at=now,
        expires_at=now + settings.activation_code_ttl,
    )
    session.add(row)
    record_audit(
        session,
        actor,
        "activation_code.issue",
        row,
        after={"expires_at": row.expires_at.isoformat()},
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return IssuedCode(format_activation_code(code), row.expires_at, participant)


def activate_patient(
    session: Session,
    settings: AuthSettings,
    raw_code: str,
    platform: str | None,
    app_version: str | None,
    address: str,
    now: datetime,
    request_id: str | None = None,
) -> tuple[TokenPair, Participant]:
    """Exchange an activation code for a device session, exactly once."""
    address_key = throttle.throttle_key(address)
    throttle.check(session, throttle.ACTIVATE_ADDRESS, address_key, now)
    code = normalise_activation_code(raw_code)
    row = None
    if code is not None:
        row = session.scalar(
            select(ActivationCode).where(ActivationCode.code_hash == settings.secrets.keyed_hash(code))
        )
    if row is None:  # the request schema has refused malformed codes already
        throttle.record_failure(session, throttle.ACTIVATE_ADDRESS, address_key, now)
        session.commit()
        raise AuthenticationError("The activation code is not valid.")
    participant = row.participant
    if row.used_at is not None:
        raise Conflict("This activation code has already been used; ask your nurse for a new one.")
    if row.revoked_at is not None:
        raise Gone("This activation code was replaced or withdrawn; ask your nurse for a new one.")
    if row.expires_at <= now:
        raise Gone("This activation code has expired; ask your nurse for a new one.")
    if participant.status in CLOSED_STATUSES:
        raise PermissionDenied("Study participation has ended for this participant.")

    device = Device(participant=participant, platform=platform, app_version=app_version, activated_at=now)
    session.add(device)
    session.flush()
    claim = (
        update(ActivationCode)
        .where(ActivationCode.id == row.id, ActivationCode.used_at.is_(None))
        .values(used_at=now, used_by_device_id=device.id)
    )
    if not _claim(session, claim):
        session.rollback()
        raise Conflict("This activation code has already been used; ask your nurse for a new one.")
    auth_session = AuthSession(
        kind=SessionKind.PATIENT, device=device, created_at=now, expires_at=now + settings.patient_refresh_ttl
    )
    session.add(auth_session)
    pair = _issue_tokens(session, settings, auth_session, now)
    actor = _participant_actor(participant, request_id)
    record_audit(
        session,
        actor,
        "device.activate",
        device,
        after={"platform": platform, "app_version": app_version},
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return pair, participant
