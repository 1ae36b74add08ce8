"""Raise flags (idempotently), list a nurse's queue, acknowledge them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.audit.service import record_change, snapshot
from backend.core.actor import Actor
from backend.errors import Conflict, NotFound
from backend.flags.models import Flag, FlagKind
from backend.participants.models import Participant
from backend.participants.scope import scope_participants


def raise_flag(
    session: Session,
    participant: Participant,
    kind: FlagKind,
    key: str,
    now: datetime,
    *,
    detail: dict[str, Any],
    urgent: bool = False,
    entity: tuple[str, int] | None = None,
) -> Flag | None:
    """Add a flag unless one with the same cause exists (caller commits)."""
    dedupe_key = f"{participant.id}:{kind.value}:{key}"
    if session.scalar(select(Flag.id).where(Flag.dedupe_key == dedupe_key)) is not None:
        return None
    flag = Flag(
        participant=participant,
        kind=kind,
        urgent=urgent,
        dedupe_key=dedupe_key,
        entity_type=entity[0] if entity else None,
        entity_id=entity[1] if entity else None,
        detail=detail,
        raised_at=now,
    )
    session.add(flag)
    return flag


def flags_query(actor: Actor, filters: dict[str, Any]) -> Select[Flag]:
    """The flags of the actor's sites: urgent first, then oldest first."""
    visible = scope_participants(select(Participant.id), actor)
    query = select(Flag).where(Flag.participant_id.in_(visible))
    if filters.get("state", "open") == "open":
        query = query.where(Flag.acknowledged_at.is_(None))
    elif filters["state"] == "acknowledged":
        query = query.where(Flag.acknowledged_at.is_not(None))
    if "kind" in filters:
        query = query.where(Flag.kind == filters["kind"])
    if "participant_id" in filters:
        query = query.where(Flag.participant_id == filters["participant_id"])
    return query.order_by(Flag.urgent.desc(), Flag.raised_at, Flag.id)


def acknowledge_flag(session: Session, actor: Actor, flag_id: int, note: str, now: datetime) -> Flag:
    """Mark a flag seen, with a note."""
    visible = scope_participants(select(Participant.id), actor)
    flag = session.scalar(select(Flag).where(Flag.id == flag_id, Flag.participant_id.in_(visible)))
    if flag is None:
        raise NotFound(f"No flag {flag_id}.")
    if flag.acknowledged_at is not None:
        raise Conflict("This flag was already acknowledged.")
    before = snapshot(flag)
    flag.acknowledged_at = now
    flag.acknowledged_by_id = actor.id
    flag.acknowledgement_note = note
    record_change(
        session, actor, "flag.acknowledge", flag, before, reason=note, participant_id=flag.participant_id, now=now
    )
    session.commit()
    return flag
