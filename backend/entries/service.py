"""Rules every patient-reported entry shares: when it may be recorded, which local day and
study day it belongs to, whether it is late, idempotent creation by client_uuid, and the
pipeline a new entry goes through (`record_entry`). Idempotent creation, versioned
corrections and the staff list also serve records that staff enter (amputation events)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import Session

from backend.audit.service import record_audit, record_staff_read, snapshot
from backend.core import idempotency
from backend.core.actor import Actor
from backend.core.models import ClientEntryMixin, PatientEntryMixin, VersionedEntryMixin
from backend.core.timeutil import ensure_utc, local_date
from backend.db import Base
from backend.entries.signals import entry_recorded
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant, ParticipantStatus
from backend.participants.scope import participant_in_scope
from backend.participants.signals import day0_moved
from backend.studies import timeline

CLOCK_SKEW = timedelta(minutes=5)
LATE_AFTER = timedelta(hours=48)

C = TypeVar("C", bound=ClientEntryMixin)


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"json": {field: [message]}})


@dataclass(frozen=True)
class EntryTime:
    recorded_at: datetime
    utc_offset_minutes: int
    local_date: date
    study_day: int | None
    late: bool


def study_day(participant: Participant, day: date) -> int | None:
    """Days since the local date of the first injection (day 0); None while it is unknown."""
    return timeline.study_day(participant.day0_date, day)


@day0_moved.connect
def _restamp_study_days(participant: Participant, *, session: Session) -> None:
    """Day 0 moved (or became known): give every entry of the participant, of every kind,
    the study day of the date it counts from."""
    for mapper in Base.registry.mappers:
        model: Any = mapper.class_
        if not issubclass(model, PatientEntryMixin):
            continue
        entry: Any
        for entry in session.scalars(select(model).where(model.participant_id == participant.id)):
            entry.study_day = study_day(participant, getattr(entry, model.study_day_from))


def time_entry(participant: Participant, recorded_at: datetime, now: datetime) -> EntryTime:
    """Check when an entry was recorded against the participant's enrolment; date it locally."""
    offset = recorded_at.utcoffset()
    if offset is None:
        raise field_error("recorded_at", "A UTC offset is required.")
    if recorded_at > now + CLOCK_SKEW:
        raise field_error("recorded_at", "This time is in the future; check the phone's clock.")
    if participant.enrolled_at is None or recorded_at < participant.enrolled_at:
        raise field_error("recorded_at", "This is before the participant's enrolment.")
    ended = participant.withdrawn_at or participant.completed_at
    if ended is not None and recorded_at >= ended:
        state = participant.status.value
        raise field_error("recorded_at", f"This is after the participant's participation ended ({state}).")
    day = local_date(recorded_at, participant.timezone)
    return EntryTime(
        recorded_at=ensure_utc(recorded_at),  # stored and returned in UTC; the offset is kept apart
        utc_offset_minutes=int(offset.total_seconds() // 60),
        local_date=day,
        study_day=study_day(participant, day),
        late=now - recorded_at > LATE_AFTER,
    )


def require_active(participant: Participant) -> None:
    if participant.status != ParticipantStatus.ACTIVE:
        raise ValidationFailed(
            f"Participant is {participant.status.value}; entries are accepted only while active.",
            errors={"json": {"_schema": ["Participant is not active."]}},
        )


def find_replay(session: Session, model: type[C], participant_id: int, data: dict[str, Any]) -> tuple[C | None, str]:
    """The original of a replayed create (or None), and the request's fingerprint."""
    fingerprint = idempotency.fingerprint(data)
    existing = session.scalar(
        select(model).where(model.participant_id == participant_id, model.client_uuid == data["client_uuid"])
    )
    if existing is None:
        return None, fingerprint
    return idempotency.replay(existing, fingerprint), fingerprint


def own_new_entry(
    session: Session, actor: Actor, model: type[C], data: dict[str, Any]
) -> tuple[Participant, C | None, str]:
    """The signed-in patient, the original of a replayed create (or None) and the request's
    fingerprint. A replay is answered whatever the participant's status now; a new entry
    needs an active participant."""
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    existing, fingerprint = find_replay(session, model, participant.id, data)
    if existing is None:
        require_active(participant)
    return participant, existing, fingerprint


def provenance(
    actor: Actor, participant: Participant, when: EntryTime, data: dict[str, Any], fingerprint: str, now: datetime
) -> dict[str, Any]:
    """Column values of the provenance mixin for a new entry."""
    return {
        "participant_id": participant.id,
        "client_uuid": data["client_uuid"],
        "request_fingerprint": fingerprint,
        "recorded_at": when.recorded_at,
        "recorded_utc_offset_minutes": when.utc_offset_minutes,
        "received_at": now,
        "local_date": when.local_date,
        "study_day": when.study_day,
        "late_entry": when.late,
        "entered_by_type": actor.kind,
        "entered_by_id": actor.id,
    }


def record_entry(
    session: Session, actor: Actor, participant: Participant, entry: PatientEntryMixin, now: datetime
) -> None:
    """Add a new patient entry to the session with what follows every one: its audit
    event, the late-entry flag when it was recorded long before it arrived, and the flags
    of its kind (the receivers of `entry_recorded`). The caller commits."""
    session.add(entry)
    session.flush()
    mapped: Any = entry  # a mapped entry (the mixin itself has no id or table)
    table = mapped.__tablename__
    record_audit(
        session, actor, f"{table}.create", mapped, after=snapshot(mapped), participant_id=participant.id, now=now
    )
    if entry.late_entry:
        raise_flag(
            session,
            participant,
            FlagKind.LATE_ENTRY,
            f"{table}:{mapped.id}",
            now,
            detail={"recorded_at": entry.recorded_at.isoformat()},
            entity=(table, mapped.id),
        )
    entry_recorded.send(type(entry), session=session, participant=participant, entry=entry, now=now)


# Columns a correction never copies from the version it corrects.
_NOT_COPIED = {
    "id", "client_uuid", "request_fingerprint", "received_at", "entered_by_type", "entered_by_id", "late_entry",
    "superseded_at", "superseded_by_id", "corrects_id", "correction_reason",
}  # fmt: skip

V = TypeVar("V", bound=VersionedEntryMixin)
Stamp = Callable[[Actor, datetime], dict[str, Any]]


def entry_stamp(actor: Actor, now: datetime) -> dict[str, Any]:
    """Who entered a new version of a patient entry, and when it arrived."""
    return {"received_at": now, "entered_by_type": actor.kind, "entered_by_id": actor.id, "late_entry": False}


def correction_of(
    original: V,
    actor: Actor,
    changes: dict[str, Any],
    data: dict[str, Any],
    fingerprint: str,
    now: datetime,
    stamp: Stamp = entry_stamp,
) -> V:
    """A new version of `original` with `changes`: same observation time and day, entered
    now by `actor` (the columns `stamp` gives), pointing back with the reason. The caller
    files it (see supersede)."""
    if not original.is_current:
        raise Conflict("This version has been superseded; correct the current one.")
    mapper = inspect(type(original))
    values = {attr.key: getattr(original, attr.key) for attr in mapper.column_attrs if attr.key not in _NOT_COPIED}
    values.update(changes)
    values.update(stamp(actor, now))
    values.update(
        client_uuid=data["client_uuid"],
        request_fingerprint=fingerprint,
        corrects_id=original.id,  # type: ignore[attr-defined]
        correction_reason=data.get("reason"),
    )
    model: Any = type(original)  # a mapped entry class: its constructor takes the columns
    return model(**values)  # type: ignore[no-any-return]


def supersede(session: Session, original: VersionedEntryMixin, version: VersionedEntryMixin, now: datetime) -> None:
    """Make `version` current in place of `original` (both rows stay)."""
    original.superseded_at = now
    session.flush()  # free a "current" slot (a unique index may guard it) first
    session.add(version)
    session.flush()
    original.superseded_by_id = version.id  # type: ignore[attr-defined]


def entries_query(
    session: Session,
    actor: Actor,
    model: type[C],
    participant_id: int,
    filters: dict[str, Any],
    now: datetime,
    day_column: Any = None,
    equal: tuple[str, ...] = (),
) -> Select[C]:
    """A participant's entries of one kind within the actor's reach, current versions
    unless asked, between the `from`/`to` local dates, and matching each filter named in
    `equal` that was given. A staff read is logged."""
    participant = participant_in_scope(session, actor, participant_id)
    resource = f"{model.__tablename__}s"  # type: ignore[attr-defined]  # pain_scores, walk_tests, ...
    record_staff_read(session, actor, resource, participant.id, now)
    day = cast(Any, model).local_date if day_column is None else day_column
    query = select(model).where(model.participant_id == participant.id)
    if not filters.get("include_superseded"):
        query = query.where(model.superseded_at.is_(None))  # type: ignore[attr-defined]
    if "date_from" in filters:
        query = query.where(day >= filters["date_from"])
    if "date_to" in filters:
        query = query.where(day <= filters["date_to"])
    for name in equal:
        if name in filters:
            query = query.where(getattr(model, name) == filters[name])
    return query


def own_entry(session: Session, model: type[C], participant_id: int, entry_id: int) -> C:
    """An entry of the participant's, or NotFound (another participant's id reveals nothing)."""
    mapped: Any = model  # a mapped entry class (the mixin itself has no id or table)
    entry = session.scalar(select(mapped).where(mapped.id == entry_id, mapped.participant_id == participant_id))
    if entry is None:
        raise NotFound(f"No {mapped.__tablename__.replace('_', ' ')} {entry_id}.")
    return cast(C, entry)


def correct_entry(
    session: Session,
    actor: Actor,
    model: type[V],
    participant_id: int,
    entry_id: int,
    data: dict[str, Any],
    now: datetime,
    check: Callable[[V, V], None] | None = None,
    stamp: Stamp = entry_stamp,
    day_attribute: str = "local_date",
) -> tuple[V, V | None, Participant]:
    """The shared steps of a correction: scope, replay, the entry, the new version with the
    fields sent and the provenance `stamp` gives, `check(original, correction)` (raises to
    refuse), the data locks of the entry's day (`day_attribute`) before and after, supersede,
    audit.

    Returns (correction, original, participant); original is None for a replay, which
    wrote nothing. The caller raises its flags and commits.
    """
    participant = participant_in_scope(session, actor, participant_id)
    mapped: Any = model
    existing, fingerprint = find_replay(session, mapped, participant.id, data)
    if existing is not None:
        if existing.corrects_id != entry_id:
            # The same body sent to another entry's URL is not a replay: answering with the
            # first entry's correction would say the second was corrected when it was not.
            raise ValidationFailed(
                "This client_uuid was already used for a correction of another entry.",
                errors={"json": {"client_uuid": ["Already used for another entry; generate a new one."]}},
            )
        return existing, None, participant
    original: V = own_entry(session, mapped, participant.id, entry_id)
    changes = {key: value for key, value in data.items() if key not in ("client_uuid", "reason")}
    correction = correction_of(original, actor, changes, data, fingerprint, now, stamp)
    if check is not None:
        check(original, correction)
    # A correction that moves an entry to another day changes the data of both days.
    ensure_writable(session, actor, participant, getattr(original, day_attribute), getattr(correction, day_attribute))
    before = snapshot(cast(Any, original))
    supersede(session, original, correction, now)
    record_audit(
        session,
        actor,
        f"{mapped.__tablename__}.correct",
        cast(Any, correction),
        before=before,
        after=snapshot(cast(Any, correction)),
        reason=data.get("reason"),
        participant_id=participant.id,
        now=now,
    )
    return correction, original, participant
