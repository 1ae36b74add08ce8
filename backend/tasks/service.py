"""Today's tasks in the participant's local time, and the patient's own summary."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.core.timeutil import local_date, local_time
from backend.diary.models import PainScore
from backend.diary.service import last_closed_diary_day, mean_pain
from backend.participants.models import Participant, ParticipantStatus
from backend.participants.scope import participant_in_scope
from backend.studies.document import Assessment, StudyProtocol
from backend.studies.service import current_protocol
from backend.studies.timeline import diary_closes, study_day, study_week, week_closes
from backend.tasks.progress import DIARY, PHOTO, WALK, Progress, read_progress
from backend.ulcers.models import Ulcer
from backend.walks.models import WalkTest


def _scheduled(protocol: StudyProtocol, task: str, day_number: int | None) -> Assessment | None:
    """The assessment if it runs on this study day (always, while day 0 is not known)."""
    assessment = protocol.assessment(task)
    return assessment if assessment is not None and assessment.schedule.covers(day_number) else None


def due_tasks(session: Session, actor: Actor, now: datetime) -> dict[str, Any]:
    """What the patient should do today, what is done, and what was missed."""
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    protocol = current_protocol(session, participant.study_id)
    tz = participant.timezone
    local_now = local_time(now, tz)
    today = local_now.date()
    day_number = study_day(participant.day0_date, today)
    tasks: list[dict[str, Any]] = []
    if participant.status == ParticipantStatus.ACTIVE:
        last_closed = last_closed_diary_day(participant, protocol, local_now)
        walk = protocol.assessment(WALK)
        progress = read_progress(
            session,
            {participant.id: participant.day0_date},
            lambda column: column == participant.id,
            diary_since=min(last_closed, today - timedelta(days=1)),
            weeks_since=study_week(participant.day0_date, today)[0],
            walk_method=lambda _pid: walk.method if walk else None,
        )[participant.id]
        tasks += _diary_tasks(participant, protocol, progress, local_now, last_closed)
        tasks += _walk_tasks(participant, protocol, progress, today, day_number)
        tasks += _photo_tasks(session, participant, protocol, progress, today, day_number)
    visit = _next_visit(participant, protocol, day_number)
    if visit is not None:
        tasks.append(visit)
    return {"local_date": today, "study_day": day_number, "timezone": tz, "tasks": tasks}


def _diary_tasks(
    participant: Participant, protocol: StudyProtocol, progress: Progress, local_now: datetime, last_closed: date
) -> list[dict[str, Any]]:
    tz = participant.timezone
    today = local_now.date()
    enrolled = local_date(participant.enrolled_at, tz) if participant.enrolled_at else today
    yesterday = today - timedelta(days=1)
    tasks: list[dict[str, Any]] = []
    for day in sorted({today, yesterday, last_closed}, reverse=True):
        if day < enrolled or _scheduled(protocol, DIARY, study_day(participant.day0_date, day)) is None:
            continue
        if progress.done(DIARY, day):
            status = "done"
        elif day > last_closed:
            status = "due"
        else:
            status = "missed"  # closed: an e-diary is not back-filled
        if status == "missed" and day != last_closed:
            continue
        closes = diary_closes(day, protocol.grace_until, tz)
        tasks.append({"task": DIARY, "status": status, "date": day, "closes_at": closes})
    return tasks


def _walk_tasks(
    participant: Participant, protocol: StudyProtocol, progress: Progress, today: date, day_number: int | None
) -> list[dict[str, Any]]:
    assessment = _scheduled(protocol, WALK, day_number)
    if assessment is None:
        return []
    week_start = study_week(participant.day0_date, today)[0]
    return [
        {
            "task": WALK,
            "status": "done" if progress.done(WALK, week_start) else "due",
            "date": week_start,
            "closes_at": week_closes(participant.day0_date, today, participant.timezone),
            "method": assessment.method,
        }
    ]


def _photo_tasks(
    session: Session,
    participant: Participant,
    protocol: StudyProtocol,
    progress: Progress,
    today: date,
    day_number: int | None,
) -> list[dict[str, Any]]:
    """One photo a week of every ulcer that is not healed."""
    if _scheduled(protocol, PHOTO, day_number) is None or not progress.has_open_ulcers:
        return []
    week_start = study_week(participant.day0_date, today)[0]
    labels = session.execute(
        select(Ulcer.id, Ulcer.label).where(Ulcer.id.in_(list(progress.open_ulcers))).order_by(Ulcer.id)
    ).all()
    closes = week_closes(participant.day0_date, today, participant.timezone)
    return [
        {
            "task": PHOTO,
            "status": "done" if progress.photo_done(week_start, ulcer_id) else "due",
            "date": week_start,
            "closes_at": closes,
            "ulcer_id": ulcer_id,
            "label": label,
        }
        for ulcer_id, label in labels
    ]


def _next_visit(participant: Participant, protocol: StudyProtocol, day_number: int | None) -> dict[str, Any] | None:
    day0 = participant.day0_date
    if day_number is None or day0 is None:
        return None
    for visit in protocol.visits:
        if visit.end_day < day_number:
            continue
        dates = visit.dates(day0)
        return {
            "task": "visit",
            "status": "in_window" if visit.start_day <= day_number else "upcoming",
            "date": dates.target,
            "visit_code": visit.code,
            "label": visit.label,
            "window_start": dates.start,
            "window_end": dates.end,
        }
    return None


def own_summary(session: Session, actor: Actor, now: datetime) -> dict[str, Any]:
    """The patient's last 7 diary days with their mean, and the last walk distances."""
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    today = local_date(now, participant.timezone)
    first = today - timedelta(days=6)
    mean, days = mean_pain(session, participant.id, first, today)
    scores = session.execute(
        select(PainScore.diary_date, PainScore.score)
        .where(
            PainScore.participant_id == participant.id,
            PainScore.superseded_at.is_(None),
            PainScore.diary_date.between(first, today),
        )
        .order_by(PainScore.diary_date)
    ).all()
    walks = session.scalars(
        select(WalkTest)
        .where(WalkTest.participant_id == participant.id, WalkTest.superseded_at.is_(None))
        .order_by(WalkTest.recorded_at.desc())
        .limit(5)
    ).all()
    return {
        "pain_7_day_mean": mean,
        "pain_7_day_days": days,
        "pain_scores": [{"diary_date": d, "score": s} for d, s in scores],
        "walk_tests": [
            {"local_date": w.local_date, "method": w.method.value, "distance_m": w.distance_m} for w in walks
        ],
    }
