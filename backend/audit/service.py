"""Append audit and access events. Callers flush; the use case that called commits."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Column, Select, insert, inspect, select
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent, AuditEvent
from backend.auth.policy import participant_in_scope
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
    insert_audit_event(
        session,
        audit_values(
            actor,
            action,
            entity.__tablename__,
            inspect(entity).identity[0],  # type: ignore[index]
            before=before,
            after=after,
            reason=reason,
            participant_id=participant_id,
            study_id=study_id,
            now=now,
        ),
    )


def insert_audit_event(session: Session, values: dict[str, Any]) -> None:
    """Append an event built by audit_values, in the caller's transaction. A plain INSERT:
    nothing reads the event back, and going through the unit of work (an AuditEvent object,
    a flush) cost 3 times the CPU."""
    session.execute(_INSERT_EVENT, values)


def audit_values(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    participant_id: int | None = None,
    study_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The audit_event row of one write: for insert_audit_event, or for a caller that
    inserts it in a statement of its own making (AUDIT_EVENTS). record_audit does both."""
    return {
        "occurred_at": now or utcnow(),
        "actor_type": actor.kind,
        "actor_id": actor.audit_id,
        "actor_role": actor.role,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "study_id": study_id if study_id is not None else actor.study_id,
        "participant_id": participant_id,
        "before": before,
        "after": after,
        "reason": reason,
        "request_id": actor.request_id,
    }


AUDIT_EVENTS = Base.metadata.tables[AuditEvent.__tablename__]
_INSERT_EVENT = insert(AUDIT_EVENTS)  # Core, not the ORM


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
    """Log and commit a staff member's read of one participant's records. A patient
    reading their own is not an access to log."""
    if actor.is_staff:
        record_access(session, actor, resource, participant_id=participant_id, now=now)
        session.commit()


def participant_audit_query(session: Session, actor: Actor, participant_id: int, now: datetime) -> Select[Any]:
    """Audit events about one participant, oldest first; reading them is itself logged."""
    participant = participant_in_scope(session, actor, participant_id)
    record_access(session, actor, "audit_trail", participant_id=participant.id, study_id=participant.study_id, now=now)
    session.commit()
    return (
        select(AuditEvent)
        .where(AuditEvent.participant_id == participant.id)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )
