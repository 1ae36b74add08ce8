"""Enrol, update, withdraw and look up participants, within the actor's sites."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.audit.service import record_access, record_audit, record_change, snapshot
from backend.core import idempotency
from backend.core.actor import Actor
from backend.core.timeutil import is_valid_timezone
from backend.db import flush_or_conflict
from backend.errors import Conflict, ValidationFailed
from backend.participants.models import Participant, ParticipantStatus
from backend.participants.scope import participant_in_scope, scope_participants
from backend.participants.signals import day0_moved, participant_changing, participation_ended
from backend.studies.models import Cohort, Site, Study
from backend.studies.service import protocol_of


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"json": {field: [message]}})


def _site(session: Session, actor: Actor, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.study_id == actor.study_id, Site.code == code))
    if site is None or not actor.can_reach_site(site.id):
        raise _field_error("site_code", f"{code!r} is not one of your sites.")
    return site


def _cohort(session: Session, study_id: int, code: str) -> Cohort:
    cohort = session.scalar(select(Cohort).where(Cohort.study_id == study_id, Cohort.code == code))
    if cohort is None:
        raise _field_error("cohort_code", f"{code!r} is not a cohort of this study.")
    return cohort


def _check_language(session: Session, study_id: int, language: str) -> None:
    study = session.get(Study, study_id)
    protocol = study.current_protocol if study else None
    languages = list(protocol_of(protocol).languages) if protocol else []
    if language not in languages:
        raise _field_error("language", f"{language!r} is not a language of the protocol ({', '.join(languages)}).")


def _check_timezone(name: str) -> None:
    if not is_valid_timezone(name):
        raise _field_error("timezone", f"{name!r} is not in the IANA time zone database.")


# A trial's dates: anything outside is a typing slip, and year 1 or 9999 would overflow
# every date computed from day 0 (visit windows, study days).
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def _check_dates(data: dict[str, Any], now: datetime) -> None:
    for name in ("consent_date", "day0_date"):
        value = data.get(name)
        if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise _field_error(name, f"{value} is not a plausible date for this study.")
    if data.get("consent_date") is not None and data["consent_date"] > now.date():
        raise _field_error("consent_date", "Consent cannot be dated in the future.")


def create_participant(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[Participant, bool]:
    """Register a participant in screening. Returns (participant, created)."""
    request_fingerprint = idempotency.fingerprint(data)
    existing = session.scalar(
        select(Participant).where(
            Participant.study_id == actor.study_id, Participant.client_uuid == data["client_uuid"]
        )
    )
    if existing is not None:
        return idempotency.replay(participant_in_scope(session, actor, existing.id), request_fingerprint), False

    assert actor.study_id is not None
    site = _site(session, actor, data["site_code"])
    cohort = _cohort(session, actor.study_id, data["cohort_code"]) if data["cohort_code"] else None
    _check_language(session, actor.study_id, data["language"])
    _check_timezone(data["timezone"])
    _check_dates(data, now)
    if session.scalar(
        select(Participant.id).where(
            Participant.study_id == actor.study_id, Participant.subject_code == data["subject_code"]
        )
    ):
        raise Conflict(f"Subject code {data['subject_code']} is already registered in this study.")

    participant = Participant(
        study_id=actor.study_id,
        site=site,
        cohort=cohort,
        subject_code=data["subject_code"],
        target_leg=data["target_leg"],
        timezone=data["timezone"],
        language=data["language"],
        day0_date=data["day0_date"],
        consent_version=data["consent_version"],
        consent_date=data["consent_date"],
        status=ParticipantStatus.SCREENING,
        client_uuid=data["client_uuid"],
        request_fingerprint=request_fingerprint,
        created_at=now,
        updated_at=now,
    )
    session.add(participant)
    flush_or_conflict(session, "A participant with this subject code or client_uuid was created concurrently.")
    record_audit(
        session,
        actor,
        "participant.create",
        participant,
        after=snapshot(participant),
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return participant, True


def participants_query(actor: Actor, filters: dict[str, Any]) -> Select[Participant]:
    """The participants `actor` may see, filtered, in subject-code order."""
    query = scope_participants(select(Participant), actor)
    if "site" in filters:
        query = query.join(Site, Participant.site_id == Site.id).where(Site.code == filters["site"])
    if "cohort" in filters:
        query = query.join(Cohort, Participant.cohort_id == Cohort.id).where(Cohort.code == filters["cohort"])
    if "status" in filters:
        query = query.where(Participant.status == filters["status"])
    if "subject_code" in filters:
        needle = filters["subject_code"].upper().replace("%", "").replace("_", "")
        query = query.where(Participant.subject_code.contains(needle))
    return query.order_by(Participant.subject_code)


def read_participant(session: Session, actor: Actor, participant_id: int, now: datetime) -> Participant:
    """Return one participant and log the read (the request commits the log)."""
    participant = participant_in_scope(session, actor, participant_id)
    record_access(session, actor, "participant", participant_id=participant.id, study_id=participant.study_id, now=now)
    return participant


def audit_trail_query(session: Session, actor: Actor, participant_id: int, now: datetime) -> Select[AuditEvent]:
    """Audit events about one participant, oldest first; reading them is itself logged
    (the request commits the log)."""
    participant = participant_in_scope(session, actor, participant_id)
    record_access(session, actor, "audit_trail", participant_id=participant.id, study_id=participant.study_id, now=now)
    return (
        select(AuditEvent)
        .where(AuditEvent.participant_id == participant.id)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    )


def update_participant(
    session: Session, actor: Actor, participant_id: int, changes: dict[str, Any], now: datetime
) -> Participant:
    """Change staff-editable fields, with a reason; the before/after goes to the audit trail."""
    participant = participant_in_scope(session, actor, participant_id)
    reason = changes.pop("reason")
    if not changes:
        raise ValidationFailed(
            "Nothing to change.", errors={"json": {"_schema": ["Give at least one field to change."]}}
        )
    if participant.status in (ParticipantStatus.WITHDRAWN, ParticipantStatus.COMPLETED):
        raise Conflict(f"Participant is {participant.status.value}; the record is closed.")
    before = snapshot(participant)
    cohort = _cohort(session, participant.study_id, changes.pop("cohort_code")) if "cohort_code" in changes else None
    if "language" in changes:
        _check_language(session, participant.study_id, changes["language"])
    if "timezone" in changes:
        _check_timezone(changes["timezone"])
    _check_dates(changes, now)
    day0_moves = "day0_date" in changes and changes["day0_date"] != participant.day0_date
    # Day 0 moves every record's study day; the target leg decides the amputation endpoints
    # and the time zone the local days the sync counts in, of every visit, locked ones too.
    reaches_every_visit = day0_moves or any(
        name in changes and changes[name] != getattr(participant, name) for name in ("target_leg", "timezone")
    )
    _check_changeable(session, actor, participant, every_visit=reaches_every_visit)
    if cohort is not None:
        participant.cohort = cohort
    for name, value in changes.items():
        setattr(participant, name, value)
    participant.updated_at = now
    if day0_moves:
        day0_moved.send(participant, session=session)
    session.flush()
    record_change(
        session, actor, "participant.update", participant, before, reason=reason, participant_id=participant.id, now=now
    )
    session.commit()
    return participant


def _check_changeable(session: Session, actor: Actor, participant: Participant, *, every_visit: bool) -> None:
    """Ask the receivers of `participant_changing` (the data locks) whether the record may
    change; one that refuses raises. None connected would let a locked record change."""
    if not participant_changing.receivers:
        raise RuntimeError("no receiver of participant_changing: the data locks would not be checked")
    participant_changing.send(participant, session=session, actor=actor, every_visit=every_visit)


_TRANSITIONS = {
    "enrol": ({ParticipantStatus.SCREENING}, ParticipantStatus.ACTIVE),
    "withdraw": ({ParticipantStatus.SCREENING, ParticipantStatus.ACTIVE}, ParticipantStatus.WITHDRAWN),
    "complete": ({ParticipantStatus.ACTIVE}, ParticipantStatus.COMPLETED),
}


def change_status(
    session: Session, actor: Actor, participant_id: int, transition: str, reason: str, now: datetime
) -> Participant:
    """Move a participant along screening → active → completed, or to withdrawn.

    Withdrawal and completion end every device session at once.
    """
    participant = participant_in_scope(session, actor, participant_id)
    allowed_from, target = _TRANSITIONS[transition]
    if participant.status not in allowed_from:
        raise Conflict(f"Cannot {transition} a participant who is {participant.status.value}.")
    if transition == "enrol" and participant.cohort is None:
        raise Conflict("Assign a cohort before enrolling.")
    _check_changeable(session, actor, participant, every_visit=False)
    before = snapshot(participant)
    participant.status = target
    participant.updated_at = now
    if target == ParticipantStatus.ACTIVE:
        participant.enrolled_at = now
    elif target == ParticipantStatus.WITHDRAWN:
        participant.withdrawn_at = now
        participant.withdrawal_reason = reason
        participation_ended.send(participant, session=session, reason="withdrawn", now=now)
    else:
        participant.completed_at = now
        participation_ended.send(participant, session=session, reason="completed", now=now)
    session.flush()
    record_change(
        session,
        actor,
        f"participant.{transition}",
        participant,
        before,
        reason=reason,
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return participant


def own_profile(session: Session, actor: Actor) -> Participant:
    """The patient's own participant record."""
    assert actor.participant_id is not None
    return participant_in_scope(session, actor, actor.participant_id)
