"""Ulcers and their closures: registering an ulcer to photograph, and staff recording
that it healed (area 0). Photos, review and the area history have modules of their own."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend.audit.service import record_audit, record_staff_read, snapshot
from backend.core import idempotency
from backend.core.actor import Actor
from backend.core.timeutil import local_date
from backend.db import flush_or_conflict
from backend.entries import service as entries
from backend.errors import Conflict, NotFound
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.participants.scope import participant_in_scope
from backend.ulcers.models import Ulcer, UlcerClosure


def create_ulcer(
    session: Session, actor: Actor, participant_id: int, data: dict[str, Any], now: datetime
) -> tuple[Ulcer, bool]:
    """Register an ulcer of a participant (by the patient or staff). Returns (ulcer, created)."""
    participant = participant_in_scope(session, actor, participant_id)
    fingerprint = idempotency.fingerprint(data)
    existing = session.scalar(
        select(Ulcer).where(Ulcer.participant_id == participant.id, Ulcer.client_uuid == data["client_uuid"])
    )
    if existing is not None:
        return idempotency.replay(existing, fingerprint), False
    if actor.kind == "participant":
        entries.require_active(participant)
    if data["first_seen_on"] > local_date(now, participant.timezone):
        raise entries.field_error("first_seen_on", "This date is in the future.")
    label_taken = session.scalar(
        select(Ulcer.id).where(Ulcer.participant_id == participant.id, Ulcer.label == data["label"])
    )
    if label_taken is not None:
        raise entries.field_error("label", f"This participant already has an ulcer labelled {data['label']!r}.")
    ensure_writable(session, actor, participant, data["first_seen_on"])
    ulcer = Ulcer(
        participant_id=participant.id,
        client_uuid=data["client_uuid"],
        request_fingerprint=fingerprint,
        label=data["label"],
        leg=data["leg"],
        location=data["location"],
        first_seen_on=data["first_seen_on"],
        created_at=now,
        created_by_type=actor.kind,
        created_by_id=actor.id,
    )
    try:
        session.add(ulcer)
        session.flush()
        record_audit(
            session, actor, "ulcer.create", ulcer, after=snapshot(ulcer), participant_id=participant.id, now=now
        )
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent create took the client_uuid or the label: answer as it would
        return create_ulcer(session, actor, participant_id, data, now)
    return ulcer, True


def ulcers_query(session: Session, actor: Actor, participant_id: int, now: datetime) -> Select[Ulcer]:
    """A participant's ulcers in the order they were registered; a staff read is logged."""
    participant = participant_in_scope(session, actor, participant_id)
    record_staff_read(session, actor, "ulcers", participant.id, now)
    return (
        select(Ulcer)
        .where(Ulcer.participant_id == participant.id)
        .options(selectinload(Ulcer.closures))
        .order_by(Ulcer.id)
    )


def ulcer_in_scope(session: Session, actor: Actor, participant_id: int, ulcer_id: int) -> tuple[Participant, Ulcer]:
    participant = participant_in_scope(session, actor, participant_id)
    ulcer = session.scalar(select(Ulcer).where(Ulcer.id == ulcer_id, Ulcer.participant_id == participant.id))
    if ulcer is None:
        raise NotFound(f"No ulcer {ulcer_id}.")
    return participant, ulcer


def record_closure(
    session: Session, actor: Actor, participant_id: int, ulcer_id: int, data: dict[str, Any], now: datetime
) -> Ulcer:
    """Staff record that an ulcer was completely epithelialised (area 0) on a date."""
    participant, ulcer = ulcer_in_scope(session, actor, participant_id, ulcer_id)
    observed_on: date = data["observed_on"]
    if observed_on > local_date(now, participant.timezone):
        raise entries.field_error("observed_on", "This date is in the future.")
    if observed_on < ulcer.first_seen_on:
        raise entries.field_error("observed_on", "This is before the ulcer was first seen.")
    if any(c.observed_on == observed_on for c in ulcer.closures):
        raise Conflict(f"Closure on {observed_on.isoformat()} is already recorded.")
    ensure_writable(session, actor, participant, observed_on)
    before = snapshot(ulcer)
    closure = UlcerClosure(
        ulcer_id=ulcer.id, observed_on=observed_on, note=data.get("note"), recorded_at=now, recorded_by_id=actor.id
    )
    session.add(closure)
    ulcer.closures.append(closure)
    if ulcer.healed_on is None or observed_on < ulcer.healed_on:
        ulcer.healed_on = observed_on
    flush_or_conflict(session, f"Closure on {observed_on.isoformat()} is already recorded.")
    record_audit(
        session,
        actor,
        "ulcer.closure",
        ulcer,
        before=before,
        after={**snapshot(ulcer), "closure": snapshot(closure)},
        reason=data.get("note"),
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return ulcer
