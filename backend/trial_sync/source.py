"""Read what the derivations need from the operational database, set-based.

One query per record type for a whole chunk of participants (no per-participant round
trips), and the one query that finds which participants changed since a watermark.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session

from backend.amputations.models import AmputationEvent
from backend.core.timeutil import local_date
from backend.diary.models import PainScore
from backend.locks.models import DataLock
from backend.participants.models import Participant
from backend.studies.models import ProtocolVersion, Study
from backend.studies.timeline import study_day
from backend.trial_sync.derive import AmputationEntry, Observation, PainEntry, Subject, UlcerRecord, WalkEntry
from backend.ulcers.models import PhotoReview, ReviewDecision, Ulcer, UlcerClosure, UlcerPhoto
from backend.walks.models import WalkTest


@dataclass(frozen=True)
class Person:
    """The participant columns that decide days and visits."""

    id: int
    study_id: int
    subject_code: str
    timezone: str
    day0: date | None
    target_leg: str
    withdrawn_at: datetime | None

    def day(self, on: date) -> int:
        number = study_day(self.day0, on)
        assert number is not None
        return number

    def today(self, now: datetime) -> int:
        return self.day(local_date(now, self.timezone))

    def withdrawn_day(self) -> int | None:
        return None if self.withdrawn_at is None else self.today(self.withdrawn_at)


def people(session: Session, study_id: int) -> list[Person]:
    rows = session.execute(
        select(
            Participant.id,
            Participant.study_id,
            Participant.subject_code,
            Participant.timezone,
            Participant.day0_date,
            Participant.target_leg,
            Participant.withdrawn_at,
        )
        .where(Participant.study_id == study_id)
        .order_by(Participant.id)
    )
    return [Person(r[0], r[1], r[2], r[3], r[4], str(r[5]), r[6]) for r in rows]


def studies(session: Session, code: str | None) -> list[Study]:
    query = select(Study).order_by(Study.code)
    if code is not None:
        query = query.where(Study.code == code)
    return list(session.scalars(query))


def changed_since(session: Session, study_id: int, since: datetime) -> set[int]:
    """Participants with a record created, corrected, reviewed or changed after `since`."""
    photo_participant = select(UlcerPhoto.participant_id)
    queries: list[Select[Any]] = [
        select(Participant.id).where(Participant.updated_at > since),
        select(PainScore.participant_id).where((PainScore.received_at > since) | (PainScore.superseded_at > since)),
        select(WalkTest.participant_id).where((WalkTest.received_at > since) | (WalkTest.superseded_at > since)),
        select(Ulcer.participant_id).where(Ulcer.created_at > since),
        photo_participant.where(UlcerPhoto.received_at > since),
        photo_participant.join(PhotoReview, PhotoReview.photo_id == UlcerPhoto.id).where(
            PhotoReview.reviewed_at > since
        ),
        select(Ulcer.participant_id)
        .join(UlcerClosure, UlcerClosure.ulcer_id == Ulcer.id)
        .where(UlcerClosure.recorded_at > since),
        select(AmputationEvent.participant_id).where(
            (AmputationEvent.recorded_at > since) | (AmputationEvent.superseded_at > since)
        ),
        # a lock released: rows the sync left alone may be brought up to date now
        select(DataLock.participant_id).where((DataLock.set_at > since) | (DataLock.released_at > since)),
    ]
    changed = union(*queries).subquery()
    ids = session.scalars(
        select(Participant.id).where(Participant.study_id == study_id, Participant.id.in_(select(changed.c[0])))
    )
    return set(ids)


def protocol_loaded_since(session: Session, study_id: int, since: datetime) -> bool:
    """Whether a protocol version (rules, windows, endpoints) arrived after `since`: then
    every participant of the study is derived again."""
    newer = select(ProtocolVersion.id).where(ProtocolVersion.study_id == study_id, ProtocolVersion.loaded_at > since)
    return session.scalar(newer.limit(1)) is not None


def subjects(session: Session, persons: Sequence[Person], now: datetime) -> dict[int, Subject]:
    """The derivation input of each participant (all of whom have a day 0)."""
    by_id = {p.id: p for p in persons}
    ids = list(by_id)
    pain: dict[int, list[PainEntry]] = defaultdict(list)
    for pid, entry_id, diary_date, recorded_at, score in session.execute(
        select(PainScore.participant_id, PainScore.id, PainScore.diary_date, PainScore.recorded_at, PainScore.score)
        .where(PainScore.participant_id.in_(ids), PainScore.superseded_at.is_(None))
        .order_by(PainScore.id)
    ):
        pain[pid].append(PainEntry(by_id[pid].day(diary_date), recorded_at, score, entry_id))

    walks: dict[int, list[WalkEntry]] = defaultdict(list)
    for pid, walk_id, on, method, distance in session.execute(
        select(WalkTest.participant_id, WalkTest.id, WalkTest.local_date, WalkTest.method, WalkTest.distance_m)
        .where(WalkTest.participant_id.in_(ids), WalkTest.superseded_at.is_(None))
        .order_by(WalkTest.id)
    ):
        walks[pid].append(WalkEntry(by_id[pid].day(on), str(method), distance, f"walk_test:{walk_id}"))

    # (participant, ulcer) → observations as (day, closure last, id, observation)
    observed: dict[int, list[tuple[int, int, int, Observation]]] = defaultdict(list)
    ulcer_rows = session.execute(
        select(Ulcer.id, Ulcer.participant_id, Ulcer.label, Ulcer.first_seen_on)
        .where(Ulcer.participant_id.in_(ids))
        .order_by(Ulcer.id)
    ).all()
    for pid, photo_id, ulcer_id, on, area in session.execute(
        select(
            UlcerPhoto.participant_id, UlcerPhoto.id, UlcerPhoto.ulcer_id, UlcerPhoto.local_date, PhotoReview.area_mm2
        )
        .join(PhotoReview, PhotoReview.photo_id == UlcerPhoto.id)
        .where(
            UlcerPhoto.participant_id.in_(ids),
            PhotoReview.decision.in_((ReviewDecision.ACCEPT, ReviewDecision.CORRECT)),
            PhotoReview.area_mm2.is_not(None),
        )
    ):
        day = by_id[pid].day(on)
        observed[ulcer_id].append((day, 0, photo_id, Observation(day, float(area or 0), f"ulcer_photo:{photo_id}")))
    for pid, closure_id, ulcer_id, on in session.execute(
        select(Ulcer.participant_id, UlcerClosure.id, UlcerClosure.ulcer_id, UlcerClosure.observed_on)
        .join(Ulcer, Ulcer.id == UlcerClosure.ulcer_id)
        .where(Ulcer.participant_id.in_(ids))
    ):
        day = by_id[pid].day(on)
        observed[ulcer_id].append((day, 1, closure_id, Observation(day, 0.0, f"ulcer_closure:{closure_id}")))
    ulcers: dict[int, list[UlcerRecord]] = defaultdict(list)
    for ulcer_id, pid, label, first_seen in ulcer_rows:
        series = tuple(o for *_, o in sorted(observed[ulcer_id], key=lambda t: t[:3]))
        ulcers[pid].append(UlcerRecord(label, by_id[pid].day(first_seen), series))

    amputations: dict[int, list[AmputationEntry]] = defaultdict(list)
    for pid, event_id, on, leg, major in session.execute(
        select(
            AmputationEvent.participant_id,
            AmputationEvent.id,
            AmputationEvent.occurred_on,
            AmputationEvent.leg,
            AmputationEvent.major,
        )
        .where(
            AmputationEvent.participant_id.in_(ids),
            AmputationEvent.superseded_at.is_(None),
            AmputationEvent.voided.is_(False),
        )
        .order_by(AmputationEvent.id)
    ):
        amputations[pid].append(AmputationEntry(by_id[pid].day(on), str(leg), major, f"amputation_event:{event_id}"))

    return {
        p.id: Subject(
            today=p.today(now),
            target_leg=p.target_leg,
            withdrawn_day=p.withdrawn_day(),
            pain=tuple(pain[p.id]),
            walks=tuple(walks[p.id]),
            ulcers=tuple(ulcers[p.id]),
            amputations=tuple(amputations[p.id]),
        )
        for p in persons
    }
