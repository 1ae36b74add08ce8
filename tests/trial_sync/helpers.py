"""Participants with a few diaries and walks, entered through the API on the days they
happen, and readers of the trial database's rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import time_machine
from sqlalchemy import Engine, select

from backend.trial_sync.target import endpoint_value, sync_run
from tests.diary.helpers import TEHRAN, Patient, enrolled_patient
from tests.factories import Factory

DAY0 = date(2026, 3, 1)
ENROLLED = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)  # day -19: the baseline window opens on day -14


def at(day: int, hh_mm: str = "20:00") -> datetime:
    """A Tehran wall-clock time on a study day of a day 0 on 1 March 2026, in UTC."""
    return datetime.combine(DAY0 + timedelta(days=day), time.fromisoformat(hh_mm), tzinfo=TEHRAN).astimezone(UTC)


def patient(make: Factory, **overrides: Any) -> Patient:
    return enrolled_patient(make, ENROLLED, day0_date=DAY0.isoformat(), **overrides)


def diary(clock: time_machine.Traveller, who: Patient, scores: dict[int, int]) -> list[int]:
    """Post each day's score at 20:00 that day; the scores' ids."""
    ids = []
    for day, score in sorted(scores.items()):
        clock.move_to(at(day))
        response = who.post_score(score, at(day).astimezone(TEHRAN))
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    return ids


def walk(clock: time_machine.Traveller, who: Patient, day: int, distance_m: float, method: str = "phone_gps") -> int:
    clock.move_to(at(day, "18:00"))
    body = {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": at(day, "18:00").astimezone(TEHRAN).isoformat(),
        "method": method,
        "distance_m": distance_m,
    }
    response = who.client.post("/api/v1/me/walk-tests", json=body, headers=who.headers)
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def rows(target: Engine, **where: Any) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The trial database's endpoint rows by (subject, visit, endpoint, ulcer)."""
    query = select(endpoint_value)
    for column, value in where.items():
        query = query.where(endpoint_value.c[column] == value)
    with target.connect() as conn:
        return {
            (r.subject_code, r.visit_code, r.endpoint_code, r.ulcer_label): dict(r._mapping)
            for r in conn.execute(query)
        }


def derived(target: Engine) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    """Rows without the columns of the run that wrote them (to compare two runs' results)."""
    return {
        key: tuple(v for k, v in row.items() if k not in ("id", "sync_run_id", "updated_at"))
        for key, row in rows(target).items()
    }


def runs(target: Engine) -> list[dict[str, Any]]:
    with target.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(sync_run).order_by(sync_run.c.id))]
