"""Record, correct, void and list amputation events (staff only)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.amputations.models import AmputationEvent, is_major
from backend.audit.service import record_audit, snapshot
from backend.core.actor import Actor
from backend.core.timeutil import local_date
from backend.db import once_more_after_conflict
from backend.entries import service as entries
from backend.errors import Conflict, ValidationFailed
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.participants.scope import participant_in_scope


def _stamp(actor: Actor, now: datetime) -> dict[str, Any]:
    """Who entered a version of an event, and when the server received it."""
    return {"recorded_at": now, "recorded_by_id": actor.id}


def _require_enrolled(participant: Participant) -> None:
    # Withdrawn or completed participants keep their follow-up events; one who was never
    # enrolled (screening, or withdrawn at screening) has no trial endpoints to feed.
    if participant.enrolled_at is None:
        raise ValidationFailed(
            f"Participant is {participant.status.value} and was never enrolled; "
            "amputation events are recorded from enrolment on.",
            errors={"json": {"_schema": ["Participant was never enrolled."]}},
        )


def _check_date(participant: Participant, occurred_on: date, now: datetime) -> None:
    if occurred_on > local_date(now, participant.timezone):
        raise entries.field_error("occurred_on", "This date is in the future (the participant's local date).")
    if occurred_on < participant.consent_date:
        raise entries.field_error(
            "occurred_on", f"This is before the participant's consent ({participant.consent_date.isoformat()})."
        )


def _refuse_duplicate(session: Session, event: AmputationEvent, replaces: int | None = None) -> None:
    """Two nurses entering the same event under two client_uuids would count it twice."""
    if event.voided:
        return
    same = session.scalar(
        select(AmputationEvent.id).where(
            AmputationEvent.participant_id == event.participant_id,
            AmputationEvent.superseded_at.is_(None),
            AmputationEvent.voided.is_(False),
            AmputationEvent.occurred_on == event.occurred_on,
            AmputationEvent.leg == event.leg,
            AmputationEvent.level == event.level,
            AmputationEvent.id != (replaces or 0),
        )
    )
    if same is not None:
        raise Conflict(
            f"A {event.level.value} amputation of the {event.leg.value} leg on {event.occurred_on.isoformat()} "
            f"is already recorded (event {same}); correct that one instead."
        )


def record_amputation(
    session: Session, actor: Actor, participant_id: int, data: dict[str, Any], now: datetime
) -> tuple[AmputationEvent, bool]:
    """Record an amputation event of a participant. Returns (event, created)."""
    # The same client_uuid sent twice at once: the second insert breaks the unique
    # key; read again, and it is a replay (200), not a 500.
    return once_more_after_conflict(session, lambda: _record_amputation(session, actor, participant_id, data, now))


def _record_amputation(
    session: Session, actor: Actor, participant_id: int, data: dict[str, Any], now: datetime
) -> tuple[AmputationEvent, bool]:
    participant = participant_in_scope(session, actor, participant_id)
    existing, fingerprint = entries.find_replay(session, AmputationEvent, participant.id, data)
    if existing is not None:
        return existing, False
    _require_enrolled(participant)
    _check_date(participant, data["occurred_on"], now)
    event = AmputationEvent(
        participant_id=participant.id,
        client_uuid=data["client_uuid"],
        request_fingerprint=fingerprint,
        occurred_on=data["occurred_on"],
        leg=data["leg"],
        level=data["level"],
        major=is_major(data["level"]),
        note=data.get("note"),
        voided=False,
        **_stamp(actor, now),
    )
    _refuse_duplicate(session, event)
    ensure_writable(session, actor, participant, event.occurred_on)
    session.add(event)
    session.flush()
    record_audit(
        session, actor, "amputation_event.create", event, after=snapshot(event), participant_id=participant.id, now=now
    )
    session.commit()
    return event, True


def correct_amputation(
    session: Session, actor: Actor, participant_id: int, event_id: int, data: dict[str, Any], now: datetime
) -> tuple[AmputationEvent, bool]:
    """Correct or void an amputation event with a reason: a new version; the original stays."""

    def still_valid(original: AmputationEvent, correction: AmputationEvent) -> None:
        correction.major = is_major(correction.level)
        if correction.voided:
            return  # a void is always possible, whatever has changed around the event since
        participant = session.get(Participant, original.participant_id)
        assert participant is not None  # correct_entry found it in scope
        _check_date(participant, correction.occurred_on, now)
        _refuse_duplicate(session, correction, replaces=original.id)

    correction, original, _ = entries.correct_entry(
        session,
        actor,
        AmputationEvent,
        participant_id,
        event_id,
        data,
        now,
        check=still_valid,
        stamp=_stamp,
        day_attribute="occurred_on",
    )
    if original is not None:
        session.commit()
    return correction, original is not None


def amputations_query(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> Select[AmputationEvent]:
    """A participant's amputation events, newest first; current versions unless asked."""
    query = entries.entries_query(
        session, actor, AmputationEvent, participant_id, filters, now, day_column=AmputationEvent.occurred_on
    )
    return query.order_by(AmputationEvent.occurred_on.desc(), AmputationEvent.id.desc())
