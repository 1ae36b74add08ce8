"""What each portal page shows, gathered from the same service functions the API calls.

Presentation only: which rows, in what order, drawn how. Every read goes through the
services (so scope checks and read logging are the API's), and nothing here decides a
business rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from backend.core.actor import Actor
from backend.core.timeutil import local_date
from backend.diary.service import pain_scores_query
from backend.flags.models import Flag, FlagKind
from backend.flags.service import flags_query
from backend.participants.models import Participant
from backend.participants.service import audit_trail_query, participants_query, read_participant
from backend.portal import charts
from backend.reminders.service import participant_devices, reminder_history
from backend.studies.document import StudyProtocol
from backend.studies.service import current_protocol
from backend.studies.timeline import study_day, study_week
from backend.symptoms.service import symptoms_query
from backend.ulcers.history import area_history
from backend.ulcers.models import UlcerPhoto
from backend.ulcers.review import review_queue
from backend.ulcers.service import ulcers_query
from backend.walks.service import walk_tests_query

QUEUE_LIMIT = 100
MISSED_LIMIT = 500
AUDIT_LIMIT = 100


@dataclass(frozen=True)
class Today:
    flags: list[Flag]
    flags_total: int
    photos: list[UlcerPhoto]
    photos_total: int
    missed: list[tuple[Participant, list[Flag]]]  # participants with open missed-diary flags


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)


def today(session: Session, actor: Actor) -> Today:
    """The flag queue (urgent first) without the missed-diary flags, which are listed by
    participant instead: a pile of those must not push a new flag off the page."""
    others = flags_query(actor, {}).where(Flag.kind != FlagKind.MISSED_DIARY)
    flags = list(session.scalars(others.options(selectinload(Flag.participant)).limit(QUEUE_LIMIT)))
    queue = review_queue(actor)
    photos = list(session.scalars(queue.limit(QUEUE_LIMIT)))
    missed_query = flags_query(actor, {"kind": FlagKind.MISSED_DIARY}).options(selectinload(Flag.participant))
    missed: dict[int, tuple[Participant, list[Flag]]] = {}
    for flag in session.scalars(missed_query.limit(MISSED_LIMIT)):
        missed.setdefault(flag.participant_id, (flag.participant, []))[1].append(flag)
    return Today(
        flags,
        _count(session, others) if len(flags) == QUEUE_LIMIT else len(flags),
        photos,
        _count(session, queue) if len(photos) == QUEUE_LIMIT else len(photos),
        sorted(missed.values(), key=lambda item: item[0].subject_code),
    )


def participants(session: Session, actor: Actor) -> list[Participant]:
    query = (
        participants_query(actor, {})
        .options(selectinload(Participant.site), selectinload(Participant.cohort))
        .order_by(None)
        .order_by(Participant.subject_code)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Visit:
    code: str
    label: str
    target: date
    start: date
    end: date
    injection: bool


def visits_of(participant: Participant, protocol: StudyProtocol) -> list[Visit]:
    day0 = participant.day0_date
    if day0 is None:
        return []
    return [
        Visit(v.code, v.label, dates.target, dates.start, dates.end, v.injection)
        for v in protocol.visits
        for dates in [v.dates(day0)]
    ]


def participant_page(session: Session, actor: Actor, participant_id: int, now: datetime) -> dict[str, Any]:
    """Everything the participant page shows; each part read through its service."""
    participant = read_participant(session, actor, participant_id, now)
    protocol = current_protocol(session, participant.study_id)
    today_local = local_date(now, participant.timezone)
    visits = visits_of(participant, protocol)
    day_number = study_day(participant.day0_date, today_local)
    next_visit = next((v for v in visits if v.end >= today_local), None)

    scores = list(session.scalars(pain_scores_query(session, actor, participant.id, {}, now)))
    walks = list(session.scalars(walk_tests_query(session, actor, participant.id, {}, now)))
    ulcers = list(session.scalars(ulcers_query(session, actor, participant.id, now)))
    histories = [area_history(session, actor, participant.id, ulcer.id, now) for ulcer in ulcers]
    symptoms = list(session.scalars(symptoms_query(session, actor, participant.id, {}, now)))
    reminders = reminder_history(session, actor, participant.id, {}, now)
    devices = participant_devices(session, actor, participant.id, now)
    audit = list(session.scalars(audit_trail_query(session, actor, participant.id, now).limit(AUDIT_LIMIT)))

    dates = [s.diary_date for s in scores] + [w.local_date for w in walks]
    dates += [p["local_date"] for h in histories for p in h["points"]]
    dates += [v.start for v in visits if v.start <= today_local] + [today_local]
    first = min(dates)
    if participant.day0_date is not None:  # start on a study week, so weekly means are study weeks
        first = study_week(participant.day0_date, first)[0]
    last = max(max(dates), today_local)
    bands = [
        charts.VisitBand(v.code, v.start, v.end, v.injection) for v in visits if v.start <= last and v.end >= first
    ]
    injections = [v.target for v in visits if v.injection and first <= v.target <= last]
    return {
        "participant": participant,
        "study_day": day_number,
        "today": today_local,
        "next_visit": next_visit,
        "visits": visits,
        "pain_chart": charts.pain_chart([(s.diary_date, s.score) for s in scores], first, last, bands, injections),
        "walk_chart": charts.walk_chart(
            [(w.local_date, w.distance_m, str(w.method)) for w in walks], first, last, bands
        ),
        "ulcer_chart": _ulcer_chart(histories, first, last, bands),
        "scores": scores,
        "walks": walks,
        "histories": histories,
        "symptoms": symptoms,
        "reminders": reminders,
        "devices": devices,
        "audit": audit,
    }


def _ulcer_chart(histories: list[dict[str, Any]], first: date, last: date, bands: list[charts.VisitBand]) -> Markup:
    series = [
        charts.UlcerSeries(h["ulcer"].label, [(p["local_date"], p["area_mm2"], p["reviewed"]) for p in h["points"]])
        for h in histories
    ]
    return charts.ulcer_chart(series, first, last, bands)
