"""Activation codes: a nurse issues a single-use code (and its QR code) for a
participant's phone, which exchanges it, exactly once, for a device session."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime

import qrcode
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.audit.service import record_audit
from backend.auth import throttle
from backend.auth.models import ActivationCode, AuthSession, SessionKind
from backend.auth.secrets import format_activation_code, new_activation_code, normalise_activation_code
from backend.auth.service import (
    CLOSED_STATUSES,
    AuthSettings,
    TokenPair,
    claim_once,
    issue_tokens,
    participant_actor,
    revoke_unused_codes,
)
from backend.core.actor import Actor
from backend.errors import AuthenticationError, Conflict, Gone, PermissionDenied
from backend.participants.models import Device, Participant


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


def issue_activation_code(
    session: Session, settings: AuthSettings, actor: Actor, participant: Participant, now: datetime
) -> IssuedCode:
    """Issue a single-use code for the participant's app; earlier unused codes stop working."""
    if participant.status in CLOSED_STATUSES:
        raise Conflict(f"Participant is {participant.status.value}; no new activation codes.")
    revoke_unused_codes(session, participant, now)
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
    if not claim_once(session, claim):
        session.rollback()
        raise Conflict("This activation code has already been used; ask your nurse for a new one.")
    auth_session = AuthSession(
        kind=SessionKind.PATIENT, device=device, created_at=now, expires_at=now + settings.patient_refresh_ttl
    )
    session.add(auth_session)
    pair = issue_tokens(session, settings, auth_session, now)
    actor = participant_actor(participant, request_id)
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
