"""Append audit and access events to the session. A use case that writes commits them
with its write; the access events of reads are committed once the request has answered."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Column, inspect
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent, AuditEvent
from backend.core.actor import Actor
from backend.core.jsonable import jsonable
from backend.core.timeutil import utcnow
from backend.db import Base

# Columns never copied into before/after snapshots.
_SECRET_COLUMNS = {"password_hash", "code_hash", "token_hash", "request_fingerprint", "fcm_token"}


def snapshot(obj: Base) -> dict[str, Any]:
    """The column values of `obj` as JSON, for an audit before/after."""
    return {key: jsonable(getattr(obj, key)) for key in _snapshot_keys(type(obj))}


@cache
def _snapshot_keys(model: type[Base]) -> tuple[str, ...]:
    """The mapped columns of a model a snapshot copies (once per model: every audited
    write takes a snapshot)."""
    return tuple(
        attr.key
        for attr in inspect(model).column_attrs
        if attr.key not in _SECRET_COLUMNS and isinstance(attr.columns[0], Column)  # not SQL expressions
    )


def record_audit(
    session: Session,
    actor: Actor,
    action: str,
    entity: Base,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    participant_id: int | None = None,
    study_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Append one audit event for a write the caller is about to commit."""
    session.flush()  # the entity needs its id
    session.add(
        AuditEvent(
            occurred_at=now or utcnow(),
            actor_type=actor.kind,
            actor_id=actor.audit_id,
            actor_role=actor.role,
            action=action,
            entity_type=entity.__tablename__,
            entity_id=str(inspect(entity).identity[0]),  # type: ignore[index]
            study_id=study_id if study_id is not None else actor.study_id,
            participant_id=participant_id,
            before=before,
            after=after,
            reason=reason,
            request_id=actor.request_id,
        )
    )


def record_change(
    session: Session,
    actor: Actor,
    action: str,
    entity: Base,
    before: dict[str, Any],
    *,
    reason: str | None,
    now: datetime,
    participant_id: int | None = None,
    study_id: int | None = None,
) -> None:
    """Audit a change of `entity`: from the snapshot `before` to what it is now."""
    after = snapshot(entity)
    record_audit(
        session,
        actor,
        action,
        entity,
        before=before,
        after=after,
        reason=reason,
        participant_id=participant_id,
        study_id=study_id,
        now=now,
    )


def record_access(
    session: Session,
    actor: Actor,
    resource: str,
    *,
    participant_id: int | None = None,
    study_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Log that `actor` read `resource` (of one participant, or an export)."""
    session.add(
        AccessEvent(
            occurred_at=now or utcnow(),
            actor_type=actor.kind,
            actor_id=actor.audit_id,
            actor_role=actor.role,
            resource=resource,
            study_id=study_id if study_id is not None else actor.study_id,
            participant_id=participant_id,
            request_id=actor.request_id,
        )
    )


def record_staff_read(session: Session, actor: Actor, resource: str, participant_id: int, now: datetime) -> None:
    """Log a staff member's read of one participant's records (a patient reading their own
    is not an access to log). Only added to the session: the request commits it once it
    has answered (backend.db commits a successful request)."""
    if actor.is_staff:
        record_access(session, actor, resource, participant_id=participant_id, now=now)
