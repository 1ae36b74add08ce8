"""Today's tasks in the participant's local time, and the patient's own summary."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.policy import participant_in_scope
from backend.core.actor import Actor
from backend.core.entries import study_day
from backend.core.timeutil import local_date, local_time
from backend.diary.models import PainScore
from backend.diary.service import diary_dates, last_closed_diary_day, mean_pain
from backend.participants.models import Participant, ParticipantStatus
from backend.studies.service import ProtocolSettings, current_protocol
from backend.ulcers.models import ReviewStatus, Ulcer, UlcerPhoto
from backend.walks.models import WalkTest


def _at(day: date, moment: time, tz: str) -> datetime:
    return datetime.combine(day, moment, tzinfo=ZoneInfo(tz))


def _scheduled(protocol: ProtocolSettings, task: str, day_number: int | None) -> dict[str, Any] | None:
    """The assessment if it runs on this study day (always, while day 0 is not known)."""
    assessment = protocol.assessment(task)
    if assessment is None:
        return None
    schedule = assessment["schedule"]
    if day_number is not None and not schedule["from_day"] <= day_number <= schedule["to_day"]:
        return None
    return assessment


def due_tasks(session: Session, actor: Actor, now: datetime) -> dict[str, Any]:
    """What the patient should do today, what is done, and what was missed."""
    assert actor.participant_id is not None
    participant = participant_in_scope(session, actor, actor.participant_id)
    protocol = current_protocol(session, participant.study_id)
    tz = participant.timezone
    local_now = local_time(now, tz)
    today = local_now.date()
    day_number = study_day(participant, today)
    tasks: list[dict[str, Any]] = []
    if participant.status == ParticipantStatus.ACTIVE:
        tasks += _diary_tasks(session, participant, protocol, local_now, day_number)
        tasks += _walk_tasks(session, participant, protocol, today, day_number)
        tasks += _photo_tasks(session, participant, protocol, today, day_number)
    visit = _next_visit(participant, protocol, today, day_number)
    if visit is not None:
        tasks.append(visit)
    return {"local_date": today, "study_day": day_number, "timezone": tz, "tasks": tasks}


def _diary_tasks(
    session: Session, participant: Participant, protocol: ProtocolSettings, local_now: datetime, day_number: int | None
) -> list[dict[str, Any]]:
    tz = participant.timezone
    today = local_now.date()
    enrolled = local_date(participant.enrolled_at, tz) if participant.enrolled_at else today
    yesterday = today - timedelta(days=1)
    last_closed = last_closed_diary_day(participant, protocol, local_now)
    filled = diary_dates(session, participant.id, min(last_closed, yesterday), today)
    tasks: list[dict[str, Any]] = []
    for day in sorted({today, yesterday, last_closed}, reverse=True):
        number = study_day(participant, day)
        if day < enrolled or _scheduled(protocol, "rest_pain_diary", number) is None:
            continue
        closes = _at(day + timedelta(days=1), protocol.grace_until, tz)
        if day in filled:
            status = "done"
        elif day > last_closed:
            status = "due"
        else:
            status = "missed"  # closed: an e-diary is not back-filled
        if status == "missed" and day != last_closed:
            continue
        tasks.append({"task": "rest_pain_diary", "status": status, "date": day, "closes_at": closes})
    return tasks


def _walk_tasks(
    session: Session, participant: Participant, protocol: ProtocolSettings, today: date, day_number: int | None
) -> list[dict[str, Any]]:
    assessment = _scheduled(protocol, "six_minute_walk", day_number)
    if assessment is None:
        return []
    week_start, week_end = study_week(participant.day0_date, today)
    query = select(WalkTest.id).where(
        WalkTest.participant_id == participant.id,
        WalkTest.superseded_at.is_(None),
        WalkTest.local_date.between(week_start, week_end),
    )
    if assessment.get("method"):
        query = query.where(WalkTest.method == assessment["method"])
    done = session.scalar(query.limit(1)) is not None
    return [
        {
            "task": "six_minute_walk",
            "status": "done" if done else "due",
            "date": week_start,
            "closes_at": _at(week_end + timedelta(days=1), time(0, 0), participant.timezone),
            "method": assessment.get("method"),
        }
    ]


def study_week(day0: date | None, day: date) -> tuple[date, date]:
    """The study week of `day` (weeks count from day 0; ISO weeks while day 0 is unknown)."""
    if day0 is None:
        return _seven_days(day - timedelta(days=day.weekday()))
    return _seven_days(day0 + timedelta(days=((day - day0).days // 7) * 7))


def _seven_days(start: date) -> tuple[date, date]:
    return start, start + timedelta(days=6)


def _photo_tasks(
    session: Session, participant: Participant, protocol: ProtocolSettings, today: date, day_number: int | None
) -> list[dict[str, Any]]:
    """One photo a week of every ulcer that is not healed."""
    if _scheduled(protocol, "ulcer_photo", day_number) is None:
        return []
    week_start, week_end = study_week(participant.day0_date, today)
    ulcers = session.execute(
        select(Ulcer.id, Ulcer.label)
        .where(Ulcer.participant_id == participant.id, Ulcer.healed_on.is_(None))
        .order_by(Ulcer.id)
    ).all()
    photographed = set(
        session.scalars(
            select(UlcerPhoto.ulcer_id).where(
                UlcerPhoto.participant_id == participant.id,
                UlcerPhoto.local_date.between(week_start, week_end),
                UlcerPhoto.review_status != ReviewStatus.REJECTED,  # a blurred photo has to be taken again
            )
        )
    )
    closes = _at(week_end + timedelta(days=1), time(0, 0), participant.timezone)
    return [
        {
            "task": "ulcer_photo",
            "status": "done" if ulcer_id in photographed else "due",
            "date": week_start,
            "closes_at": closes,
            "ulcer_id": ulcer_id,
            "label": label,
        }
        for ulcer_id, label in ulcers
    ]


def _next_visit(
    participant: Participant, protocol: ProtocolSettings, today: date, day_number: int | None
) -> dict[str, Any] | None:
    if day_number is None or participant.day0_date is None:
        return None
    for visit in protocol.visits:
        window = visit["window"]
        if window["end"] < day_number:
            continue
        day0 = participant.day0_date
        return {
            "task": "visit",
            "status": "in_window" if window["start"] <= day_number else "upcoming",
            "date": day0 + timedelta(days=visit["target_day"]),
            "visit_code": visit["code"],
            "label": visit["label"],
            "window_start": day0 + timedelta(days=window["start"]),
            "window_end": day0 + timedelta(days=window["end"]),
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
