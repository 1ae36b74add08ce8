"""Record and read six-minute walk tests; plausibility and review flags."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.db import once_more_after_conflict
from backend.entries import service as entries
from backend.entries.signals import entry_recorded
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.studies.service import current_protocol
from backend.walks.models import COURSE_METHODS, WalkTest

MAX_SPEED_M_PER_S = 3.0
REVIEW_ABOVE_M = 700.0
DROP_PERCENT = 30


def check_plausible(data: dict[str, Any]) -> None:
    """Refuse what no patient can walk; the single-field ranges are in the schema."""
    limit = data["duration_s"] * MAX_SPEED_M_PER_S
    if data["distance_m"] > limit:
        raise entries.field_error(
            "distance_m", f"{data['distance_m']:g} m in {data['duration_s']} s is faster than 3 m/s; check the entry."
        )
    if data["method"] in COURSE_METHODS and data.get("course_length_m") is None:
        raise entries.field_error("course_length_m", "A course test needs the course length.")
    if data["rests_total_s"] > data["duration_s"]:
        raise entries.field_error("rests_total_s", "Rests cannot last longer than the test.")


def record_walk_test(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[WalkTest, bool]:
    """Record a walk test of the signed-in patient. Returns (test, created)."""
    # The same client_uuid sent twice at once: the second insert breaks the unique
    # key; read again, and it is a replay (200), not a 500.
    return once_more_after_conflict(session, lambda: _record_walk_test(session, actor, data, now))


def _record_walk_test(session: Session, actor: Actor, data: dict[str, Any], now: datetime) -> tuple[WalkTest, bool]:
    participant, existing, fingerprint = entries.own_new_entry(session, actor, WalkTest, data)
    if existing is not None:
        return existing, False
    check_plausible(data)
    when = entries.time_entry(participant, data["recorded_at"], now)
    ensure_writable(session, actor, participant, when.local_date)
    values = {k: v for k, v in data.items() if k not in ("client_uuid", "recorded_at")}
    walk = WalkTest(
        **entries.provenance(actor, participant, when, data, fingerprint, now),
        **values,
        needs_review=data["distance_m"] > REVIEW_ABOVE_M,
    )
    entries.record_entry(session, actor, participant, walk, now)
    session.commit()
    return walk, True


def baseline_best(session: Session, participant: Participant, walk: WalkTest) -> float | None:
    """The best test of the same method in the baseline visit window."""
    protocol = current_protocol(session, participant.study_id)
    baseline = protocol.visit("BASELINE") or protocol.visits[0]
    return session.scalar(
        select(func.max(WalkTest.distance_m)).where(
            WalkTest.participant_id == participant.id,
            WalkTest.method == walk.method,
            WalkTest.superseded_at.is_(None),
            WalkTest.study_day.between(baseline.start_day, baseline.end_day),
            WalkTest.id != walk.id,
        )
    )


@entry_recorded.connect_via(WalkTest)
def _flag(
    _sender: type[WalkTest], *, session: Session, participant: Participant, entry: WalkTest, now: datetime
) -> None:
    """Flag a test to review, and a drop of 30 % or more from the baseline's best."""
    walk = entry
    entity = ("walk_test", walk.id)
    if walk.needs_review:
        raise_flag(
            session,
            participant,
            FlagKind.WALK_BORDERLINE,
            f"walk_test:{walk.id}",
            now,
            detail={"distance_m": walk.distance_m},
            entity=entity,
        )
    if walk.study_day is None or walk.study_day <= 0:
        return
    best = baseline_best(session, participant, walk)
    # In decimal, so that exactly 30 % is a drop (in floats 0.7 * 180 is 125.99999...).
    if best and Decimal(str(walk.distance_m)) * 100 <= Decimal(str(best)) * (100 - DROP_PERCENT):
        raise_flag(
            session,
            participant,
            FlagKind.WALK_DROP,
            f"walk_test:{walk.id}",
            now,
            detail={"distance_m": walk.distance_m, "baseline_best_m": best, "method": walk.method.value},
            entity=entity,
        )


def walk_tests_query(
    session: Session, actor: Actor, participant_id: int, filters: dict[str, Any], now: datetime
) -> Select[WalkTest]:
    """A participant's walk tests, newest first."""
    query = entries.entries_query(session, actor, WalkTest, participant_id, filters, now, equal=("method",))
    return query.order_by(WalkTest.recorded_at.desc(), WalkTest.id.desc())


def correct_walk_test(
    session: Session, actor: Actor, participant_id: int, walk_id: int, data: dict[str, Any], now: datetime
) -> tuple[WalkTest, bool]:
    """Staff correct a walk test with a reason: a new version, checked like a new test."""

    def plausible(_original: WalkTest, correction: WalkTest) -> None:
        check_plausible(snapshot_values(correction))
        correction.needs_review = correction.distance_m > REVIEW_ABOVE_M

    correction, original, _ = entries.correct_entry(
        session, actor, WalkTest, participant_id, walk_id, data, now, check=plausible
    )
    if original is not None:
        session.commit()
    return correction, original is not None


def snapshot_values(walk: WalkTest) -> dict[str, Any]:
    """The fields the plausibility rules read, from a (not yet saved) walk test."""
    names = ("distance_m", "duration_s", "method", "course_length_m", "rests_total_s")
    return {name: getattr(walk, name) for name in names}
