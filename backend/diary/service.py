"""Record, correct and read rest-pain scores; find missed diary days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Protocol, cast
from uuid import UUID

from sqlalchemy import (
    ColumnDefault,
    CursorResult,
    Select,
    Sequence,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_dict

from backend.audit.service import AUDIT_EVENTS, audit_values, insert_audit_event, snapshot
from backend.auth.policy import participant_in_scope
from backend.core import entries, idempotency
from backend.core.actor import Actor
from backend.core.timeutil import local_date, local_time
from backend.db import Base, once_more_after_conflict
from backend.diary.models import PainScore
from backend.errors import PermissionDenied
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant, ParticipantStatus
from backend.studies.service import ProtocolSettings, current_protocol

PAIN_RISE_POINTS = 3
PAIN_RISE_MIN_DAYS = 3
PATIENT_CORRECTION_WINDOW = timedelta(hours=24)
MISSED_DAYS_IN_A_ROW = 3
WEEK = timedelta(days=7)  # the pain-rise flag compares a score with the week before


def diary_date_for(
    participant: Participant, protocol: Callable[[], ProtocolSettings], recorded_at: datetime, asked: date | None
) -> date:
    """The diary day an entry is for: the local date recorded, or the day before while the
    grace time of the next morning lasts. Any other day has closed: no back-filling.

    `protocol` is called only when the answer depends on the grace time, so the usual
    entry (for the local date recorded) costs no protocol query."""
    local = local_time(recorded_at, participant.timezone)
    today = local.date()
    if asked is None or asked == today:
        return today
    yesterday = today - timedelta(days=1)
    grace_until = protocol().grace_until
    if asked == yesterday and local.time() < grace_until:
        assert participant.enrolled_at is not None
        if yesterday < local_date(participant.enrolled_at, participant.timezone):
            raise entries.field_error("diary_date", "This day is before the participant's enrolment.")
        return yesterday
    if asked > today:
        raise entries.field_error("diary_date", "This diary day has not started yet.")
    closes = f"{asked + timedelta(days=1)} {grace_until:%H:%M}"
    raise entries.field_error("diary_date", f"The diary for {asked} closed at {closes} local time.")


def record_pain_score(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[PainScore, bool]:
    """Record the patient's score for a diary day. Returns (score, created).

    The latest recorded score of a day is current; the others stay as superseded
    versions (an older one arriving late from an offline phone is stored superseded).
    """
    # Another request of this patient may commit between our read and our write (the same
    # client_uuid sent twice, or a second score of the day: the day's "current" slot is
    # unique). Read again: this one is then a replay, or files after that one.
    return once_more_after_conflict(session, lambda: _record_pain_score(session, actor, data, now))


def _record_pain_score(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[PainScore, bool]:
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    fingerprint = idempotency.fingerprint(data)
    # The day the score is for, if it is accepted (diary_date_for checks it below).
    day = data.get("diary_date") or local_date(data["recorded_at"], participant.timezone)
    nearby, new_id = _nearby_scores(session, participant.id, data["client_uuid"], day)
    replayed = next((row for row in nearby if row.client_uuid == data["client_uuid"]), None)
    if replayed is not None:
        idempotency.replay(replayed, fingerprint)
        return session.get_one(PainScore, replayed.id), False
    entries.require_active(participant)
    when = entries.time_entry(participant, data["recorded_at"], now)
    day = diary_date_for(
        participant,
        lambda: current_protocol(session, participant.study_id),
        data["recorded_at"],
        data.get("diary_date"),
    )
    ensure_writable(session, actor, participant, day)
    score = PainScore(
        **entries.provenance(actor, participant, when, data, fingerprint, now),
        score=data["score"],
        note=data.get("note"),
        diary_date=day,
    )
    score.study_day = entries.study_day(participant, day)
    current = next((row for row in nearby if row.diary_date == day and row.superseded_at is None), None)
    _place_version(session, actor, score, current, now, new_id)
    week = [row.score for row in nearby if row.superseded_at is None and row.diary_date < day]
    _flag(session, participant, score, now, week)
    session.commit()
    return score, True


class _Nearby(Protocol):
    id: int
    client_uuid: UUID
    request_fingerprint: str
    diary_date: date
    recorded_at: datetime
    superseded_at: datetime | None
    score: int


# The hot path's statements, built once and run on the table (plain Core): building them
# per request and going through the ORM's statement handling cost more CPU than the rest
# of those steps.
_TABLE = Base.metadata.tables[PainScore.__tablename__]
_SCORES = _TABLE.c
_NEARBY_COLUMNS = (
    _SCORES.id,
    _SCORES.client_uuid,
    _SCORES.request_fingerprint,
    _SCORES.diary_date,
    _SCORES.recorded_at,
    _SCORES.superseded_at,
    _SCORES.score,
)
_NEARBY_MATCH = and_(
    _SCORES.participant_id == bindparam("participant_id"),
    or_(
        _SCORES.client_uuid == bindparam("client_uuid"),
        and_(_SCORES.superseded_at.is_(None), _SCORES.diary_date.between(bindparam("week_start"), bindparam("day"))),
    ),
)
_NEARBY = select(*_NEARBY_COLUMNS).where(_NEARBY_MATCH)
_SUPERSEDE = update(_TABLE).where(_SCORES.id == bindparam("version_id")).values(superseded_at=bindparam("now"))
_LINK_SUCCESSOR = (
    update(_TABLE).where(_SCORES.id == bindparam("version_id")).values(superseded_by_id=bindparam("successor_id"))
)
_INSERT = insert(_TABLE).returning(_SCORES.id)
_INSERTED = [column.key for column in _TABLE.columns if column.key != "id"]

# On PostgreSQL a new version costs fewer round trips (a later score of the day: 3 and the
# COMMIT instead of 6 and the COMMIT, see bench/README.md). The nearby read also draws
# the id the version would get (a replay wastes it), so the version, its audit event and
# the update of the version it supersedes can go as one statement: an INSERT carrying the
# other two as data-modifying CTEs. Foreign keys are checked at the end of the statement.
#
# The id's sequence goes by the name PostgreSQL gives a serial column's (a test checks it):
# looking it up with pg_get_serial_sequence in each statement cost 0.04 ms a request.
ID_SEQUENCE = Sequence(f"{_TABLE.name}_id_seq")
_NEW_VERSION = select(ID_SEQUENCE.next_value().label("id")).cte("new_version")
# (a CTE with a volatile function is evaluated once and never inlined into the join)
_NEARBY_AND_NEW_ID = select(_NEW_VERSION.c.id.label("new_id"), *_NEARBY_COLUMNS).select_from(
    _NEW_VERSION.outerjoin(_TABLE, _NEARBY_MATCH)
)
_EVENT = {
    column.key: bindparam(f"event_{column.key}", type_=column.type)
    for column in AUDIT_EVENTS.columns
    if column.key != "id"
}
# (Parameters are prefixed: one named like a column of either table would fill that column.)
_VERSION = {column.key: bindparam(f"new_{column.key}", type_=column.type) for column in _TABLE.columns}
_AUDIT_EVENT_INSERT = insert(AUDIT_EVENTS).values(_EVENT).cte("audit_event_insert")
_INSERT_AUDITED = insert(_TABLE).values(_VERSION).add_cte(_AUDIT_EVENT_INSERT)
# The new version is selected FROM the update of the one it supersedes: PostgreSQL runs
# the sub-statements of one statement side by side, but cannot insert a row selected from
# the UPDATE before the UPDATE has produced it, so the old row has left the day's
# "current" slot (the partial unique index) when the new one takes it.
_SUPERSEDED = (
    update(_TABLE)
    .where(_SCORES.id == bindparam("version_id"))
    .values(superseded_at=bindparam("now"), superseded_by_id=bindparam("successor_id"))
    .returning(_SCORES.id)
    .cte("superseded_version_update")
)
_INSERT_SUPERSEDING = (
    insert(_TABLE)
    .from_select(
        list(_VERSION), select(*(param.label(key) for key, param in _VERSION.items())).select_from(_SUPERSEDED)
    )
    .add_cte(_AUDIT_EVENT_INSERT)
    .execution_options(preserve_rowcount=True)  # checked: one row, or the old one was not found
)

# Scalar column defaults (late_entry: False), applied as a flush would for a value not given.
_DEFAULTS = {
    column.key: column.default.arg
    for column in _TABLE.columns
    if isinstance(column.default, ColumnDefault) and column.default.is_scalar
}
# A callable default (a timestamp, say) or a server default would be skipped by _complete:
# fail at import, not with a NULL in a trial's data.
if not all(
    (column.default is None or column.key in _DEFAULTS) and column.server_default is None
    for column in _TABLE.columns
    if column.key != "id"
):
    raise RuntimeError("pain_score has a column default that diary.service._complete does not apply")


def _nearby_scores(
    session: Session, participant_id: int, client_uuid: UUID, day: date
) -> tuple[list[_Nearby], int | None]:
    """In one read, what a new score is checked against: an earlier create with the same
    client_uuid (a replay), the day's current score, and the current scores of the week
    before (the pain-rise flag). This took three queries. On PostgreSQL, also the id for
    a new version (None elsewhere)."""
    week_start = day - WEEK if day > date.min + WEEK else date.min  # a year-1 date is refused later, not here
    params = {"participant_id": participant_id, "client_uuid": client_uuid, "week_start": week_start, "day": day}
    if session.get_bind().dialect.name != "postgresql":
        return list(session.execute(_NEARBY, params)), None
    rows = list(session.execute(_NEARBY_AND_NEW_ID, params))
    return [row for row in rows if row.id is not None], rows[0].new_id


def _place_version(
    session: Session, actor: Actor, score: PainScore, current: _Nearby | None, now: datetime, new_id: int | None
) -> None:
    """Make `score` the current version of its day, or file it behind a later `current`;
    write its audit event. The earlier current version is updated by id, not loaded.

    The rows are written with Core statements, not by the unit of work, which cost more
    CPU than the statements themselves; `score` stays a transient object holding every
    column of the row written (its id included), which is all the caller reads."""
    superseded = None  # the id of the version `score` takes the place of
    if current is not None and current.recorded_at > score.recorded_at:
        score.superseded_at = now
        score.superseded_by_id = current.id
    elif current is not None:
        superseded = current.id
    values = _complete(score)
    if new_id is None:
        _write_each(session, actor, score, values, superseded, now)
    else:
        _write_at_once(session, actor, score, values, superseded, now, new_id)


def _write_each(
    session: Session, actor: Actor, score: PainScore, values: dict[str, Any], superseded: int | None, now: datetime
) -> None:
    """Not PostgreSQL: a statement for each row written."""
    if superseded is not None:
        # Free the day's "current" slot (a partial unique index) before the new row takes it.
        session.execute(_SUPERSEDE, {"version_id": superseded, "now": now})
    score.id = session.execute(_INSERT, values).scalar_one()
    if superseded is not None:
        session.execute(_LINK_SUCCESSOR, {"version_id": superseded, "successor_id": score.id})
    insert_audit_event(session, _creation_event(actor, score, now))


def _write_at_once(
    session: Session,
    actor: Actor,
    score: PainScore,
    values: dict[str, Any],
    superseded: int | None,
    now: datetime,
    new_id: int,
) -> None:
    """PostgreSQL: the new version, its audit event and the update of the version it
    supersedes in one statement."""
    score.id = new_id
    params = {f"new_{key}": value for key, value in values.items()}
    event = _creation_event(actor, score, now)
    params.update({"new_id": new_id}, **{f"event_{key}": value for key, value in event.items()})
    if superseded is None:
        session.execute(_INSERT_AUDITED, params)
        return
    params.update(version_id=superseded, now=now, successor_id=new_id)
    if cast(CursorResult[Any], session.execute(_INSERT_SUPERSEDING, params)).rowcount != 1:
        raise RuntimeError(f"pain_score {superseded} to supersede was not found")  # rows are never deleted


def _creation_event(actor: Actor, score: PainScore, now: datetime) -> dict[str, Any]:
    """The audit event of a new version whose id is known."""
    return audit_values(
        actor,
        "pain_score.create",
        _TABLE.name,
        score.id,
        after=snapshot(score),
        participant_id=score.participant_id,
        now=now,
    )


def _complete(score: PainScore) -> dict[str, Any]:
    """The new version's column values (id aside), defaults applied as a flush would."""
    state = instance_dict(score)
    for key in _INSERTED:
        if key not in state:
            setattr(score, key, _DEFAULTS.get(key))
    return {key: state[key] for key in _INSERTED}


def _flag(
    session: Session, participant: Participant, score: PainScore, now: datetime, week: list[int] | None = None
) -> None:
    """Raise the late-entry and pain-rise flags a new version calls for. `week`: the current
    scores of the 7 days before, when the caller has read them already."""
    if score.late_entry:
        raise_flag(
            session,
            participant,
            FlagKind.LATE_ENTRY,
            f"pain_score:{score.id}",
            now,
            detail={"recorded_at": score.recorded_at.isoformat()},
            entity=("pain_score", score.id),
        )
    if not score.is_current or score.score < PAIN_RISE_POINTS:
        return  # scores are >= 0, so a rise of PAIN_RISE_POINTS over their mean needs at least that score
    if week is None:
        week = list(
            session.scalars(
                select(PainScore.score).where(
                    PainScore.participant_id == participant.id,
                    PainScore.superseded_at.is_(None),
                    PainScore.diary_date >= score.diary_date - WEEK,
                    PainScore.diary_date < score.diary_date,
                )
            )
        )
    previous = week
    if len(previous) < PAIN_RISE_MIN_DAYS:
        return
    mean = sum(previous) / len(previous)
    if score.score - mean >= PAIN_RISE_POINTS:
        raise_flag(
            session,
            participant,
            FlagKind.PAIN_RISE,
            score.diary_date.isoformat(),
            now,
            detail={"score": score.score, "previous_7_day_mean": round(mean, 2), "days": len(previous)},
            entity=("pain_score", score.id),
        )


def correct_pain_score(
    session: Session, actor: Actor, participant_id: int, score_id: int, data: dict[str, Any], now: datetime
) -> tuple[PainScore, bool]:
    """Correct the current score of a day with a new version. Patients may correct their
    own within 24 hours of recording it; later, only staff, always with a reason."""

    def patient_may_correct(original: PainScore, _correction: PainScore) -> None:
        if actor.kind == "participant":
            entries.require_active(participant_in_scope(session, actor, original.participant_id))
            if now - original.recorded_at > PATIENT_CORRECTION_WINDOW:
                raise PermissionDenied("Scores older than 24 hours can be corrected only by the study team.")

    correction, original, participant = entries.correct_entry(
        session,
        actor,
        PainScore,
        participant_id,
        score_id,
        data,
        now,
        check=patient_may_correct,
        day_attribute="diary_date",
    )
    if original is None:
        return correction, False
    _flag(session, participant, correction, now)
    session.commit()
    return correction, True


def pain_scores_query(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> Select[PainScore]:
    """A participant's scores, newest diary day first; current versions unless asked."""
    query = entries.entries_query(
        session, actor, PainScore, participant_id, filters, now, day_column=PainScore.diary_date
    )
    return query.order_by(PainScore.diary_date.desc(), PainScore.recorded_at.desc(), PainScore.id.desc())


def diary_dates(session: Session, participant_id: int, first: date, last: date) -> set[date]:
    """Diary days between `first` and `last` that have a current score."""
    return set(
        session.scalars(
            select(PainScore.diary_date).where(
                PainScore.participant_id == participant_id,
                PainScore.superseded_at.is_(None),
                PainScore.diary_date.between(first, last),
            )
        )
    )


def last_closed_diary_day(participant: Participant, protocol: ProtocolSettings, now: datetime) -> date:
    """Yesterday once the morning grace time has passed, else the day before."""
    local = local_time(now, participant.timezone)
    back = 1 if local.time() >= protocol.grace_until else 2
    return local.date() - timedelta(days=back)


def scan_missed_diaries(session: Session, now: datetime) -> int:
    """Flag active participants whose last 3 closed diary days all lack a score.

    A job for cron (hourly). Each gap is flagged once, keyed by its first missed day: a
    gap that goes on raises nothing new, a new gap after a score raises a new flag.
    """
    raised = 0
    for participant in session.scalars(select(Participant).where(Participant.status == ParticipantStatus.ACTIVE)):
        protocol = current_protocol(session, participant.study_id)
        last = last_closed_diary_day(participant, protocol, now)
        first = last - timedelta(days=MISSED_DAYS_IN_A_ROW - 1)
        assert participant.enrolled_at is not None
        enrolled = local_date(participant.enrolled_at, participant.timezone)
        if first < enrolled or diary_dates(session, participant.id, first, last):
            continue
        last_scored = session.scalar(
            select(func.max(PainScore.diary_date)).where(
                PainScore.participant_id == participant.id,
                PainScore.superseded_at.is_(None),
                PainScore.diary_date < first,
            )
        )
        gap_start = max(enrolled, last_scored + timedelta(days=1)) if last_scored else enrolled
        days = [(first + timedelta(days=n)).isoformat() for n in range(MISSED_DAYS_IN_A_ROW)]
        detail = {"gap_started": gap_start.isoformat(), "days": days}
        if raise_flag(session, participant, FlagKind.MISSED_DIARY, gap_start.isoformat(), now, detail=detail):
            raised += 1
    session.commit()
    return raised


def mean_pain(session: Session, participant_id: int, first: date, last: date) -> tuple[float | None, int]:
    """Mean of the current daily scores between two diary days, and how many days."""
    row = session.execute(
        select(func.avg(PainScore.score), func.count()).where(
            PainScore.participant_id == participant_id,
            PainScore.superseded_at.is_(None),
            PainScore.diary_date.between(first, last),
        )
    ).one()
    return (None if row[0] is None else float(row[0])), int(row[1])
