"""Record, correct and read rest-pain scores; find missed diary days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.timeutil import local_date, local_time
from backend.db import once_more_after_conflict
from backend.diary.models import PainScore
from backend.entries import service as entries
from backend.entries.signals import entry_recorded
from backend.errors import PermissionDenied
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant, ParticipantStatus
from backend.participants.scope import participant_in_scope
from backend.studies.service import ProtocolSettings, current_protocol

PAIN_RISE_POINTS = 3
PAIN_RISE_MIN_DAYS = 3
PATIENT_CORRECTION_WINDOW = timedelta(hours=24)
MISSED_DAYS_IN_A_ROW = 3
WEEK = timedelta(days=7)  # the pain-rise flag compares a score with the week before


def diary_date_for(
    participant: Participant, protocol: ProtocolSettings, recorded_at: datetime, asked: date | None
) -> date:
    """The diary day an entry is for: the local date recorded, or the day before while the
    grace time of the next morning lasts. Any other day has closed: no back-filling."""
    local = local_time(recorded_at, participant.timezone)
    today = local.date()
    if asked is None or asked == today:
        return today
    yesterday = today - timedelta(days=1)
    grace_until = protocol.grace_until
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
    participant, existing, fingerprint = entries.own_new_entry(session, actor, PainScore, data)
    if existing is not None:
        return existing, False
    when = entries.time_entry(participant, data["recorded_at"], now)
    protocol = current_protocol(session, participant.study_id)
    day = diary_date_for(participant, protocol, data["recorded_at"], data.get("diary_date"))
    ensure_writable(session, actor, participant, day)
    score = PainScore(
        **entries.provenance(actor, participant, when, data, fingerprint, now),
        score=data["score"],
        note=data.get("note"),
        diary_date=day,
    )
    score.study_day = entries.study_day(participant, day)
    current = _current_score(session, participant.id, day)
    if current is not None and current.recorded_at > score.recorded_at:
        # Recorded before the day's current score (an offline phone): filed behind it.
        score.superseded_at = now
        score.superseded_by_id = current.id
    elif current is not None:
        entries.supersede(session, current, score, now)
    entries.record_entry(session, actor, participant, score, now)
    session.commit()
    return score, True


def _current_score(session: Session, participant_id: int, day: date) -> PainScore | None:
    """The current score of a diary day, if there is one."""
    return session.scalar(
        select(PainScore).where(
            PainScore.participant_id == participant_id,
            PainScore.diary_date == day,
            PainScore.superseded_at.is_(None),
        )
    )


@entry_recorded.connect_via(PainScore)
def _flag_new_score(
    _sender: type[PainScore], *, session: Session, participant: Participant, entry: PainScore, now: datetime
) -> None:
    _flag_pain_rise(session, participant, entry, now)


def _flag_pain_rise(session: Session, participant: Participant, score: PainScore, now: datetime) -> None:
    """Flag a current score at least 3 points above the mean of the week before (on at
    least 3 days)."""
    if not score.is_current:
        return
    previous = list(
        session.scalars(
            select(PainScore.score).where(
                PainScore.participant_id == participant.id,
                PainScore.superseded_at.is_(None),
                PainScore.diary_date >= score.diary_date - WEEK,
                PainScore.diary_date < score.diary_date,
            )
        )
    )
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
    _flag_pain_rise(session, participant, correction, now)
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
