"""A patient's phone for the diary and task tests: an enrolled participant that posts
through the API as the app would, plus the fixed instants the tests are built around."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from werkzeug.test import TestResponse

from backend.core.timeutil import utcnow
from backend.participants.models import Participant
from tests.factories import Factory
from tests.helpers import TEHRAN as TEHRAN

BERLIN = ZoneInfo("Europe/Berlin")  # +01:00 in winter, +02:00 from 29 March to 25 October 2026

# Thursday 5 March 2026, 20:30 in Tehran: study day 4 of a day 0 on 1 March.
NOW = datetime(2026, 3, 5, 17, 0, tzinfo=UTC)
DAY0 = "2026-03-01"
ENROLLED = datetime(2026, 2, 20, 8, 0, tzinfo=UTC)

SCORES = "/api/v1/me/pain-scores"
TASKS = "/api/v1/me/tasks"
SUMMARY = "/api/v1/me/summary"
WALKS = "/api/v1/me/walk-tests"
FLAGS = "/api/v1/flags"

TOKEN_REUSE = timedelta(minutes=10)  # access tokens last 15 minutes


def tehran(day: str, hh_mm: str) -> datetime:
    """A wall-clock time in Tehran, e.g. tehran("2026-03-05", "20:15")."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hh_mm), tzinfo=TEHRAN)


def participant_url(participant_id: int, tail: str = "") -> str:
    return f"/api/v1/participants/{participant_id}{tail}"


def field_errors(response: TestResponse) -> dict[str, list[str]]:
    """The per-field messages of a 422 about the JSON body."""
    assert response.status_code == 422, (response.status_code, response.json)
    return cast(dict[str, list[str]], response.json["errors"]["json"])


class Patient:
    """An enrolled participant and their phone. The access token is renewed (a fresh
    activation) whenever the frozen clock has moved past its lifetime or backwards."""

    def __init__(self, make: Factory, participant: Participant) -> None:
        self.make = make
        self.client = make.client
        self.participant = participant
        self._headers: dict[str, str] | None = None
        self._issued_at: datetime | None = None

    @property
    def id(self) -> int:
        return self.participant.id

    @property
    def headers(self) -> dict[str, str]:
        now = utcnow()
        stale = self._issued_at is None or not self._issued_at <= now < self._issued_at + TOKEN_REUSE
        if self._headers is None or stale:
            self._headers = self.make.patient_headers(self.participant)
            self._issued_at = now
        return self._headers

    def score_body(self, score: Any, recorded_at: datetime | str, **extra: Any) -> dict[str, Any]:
        when = recorded_at if isinstance(recorded_at, str) else recorded_at.isoformat()
        return {"client_uuid": str(uuid.uuid4()), "score": score, "recorded_at": when, **extra}

    def post_score(self, score: Any, recorded_at: datetime | str, **extra: Any) -> TestResponse:
        return self.client.post(SCORES, json=self.score_body(score, recorded_at, **extra), headers=self.headers)

    def scores(self, **query: Any) -> list[dict[str, Any]]:
        response = self.client.get(SCORES, query_string=query, headers=self.headers)
        assert response.status_code == 200, response.json
        return cast(list[dict[str, Any]], response.json)

    def correct(self, score_id: int, score: int, **extra: Any) -> TestResponse:
        body = {"client_uuid": str(uuid.uuid4()), "score": score, **extra}
        return self.client.post(f"{SCORES}/{score_id}/corrections", json=body, headers=self.headers)

    def post_walk(
        self, distance_m: float, recorded_at: datetime, method: str = "phone_gps", **extra: Any
    ) -> TestResponse:
        body = {
            "client_uuid": str(uuid.uuid4()),
            "method": method,
            "distance_m": distance_m,
            "recorded_at": recorded_at.isoformat(),
            **extra,
        }
        return self.client.post(WALKS, json=body, headers=self.headers)

    def get(self, url: str) -> dict[str, Any]:
        response = self.client.get(url, headers=self.headers)
        assert response.status_code == 200, response.json
        return cast(dict[str, Any], response.json)


def enrolled_patient(make: Factory, enrolled_at: datetime = ENROLLED, **overrides: Any) -> Patient:
    """Register a participant (Tehran, day 0 on 1 March unless told) and enrol them at
    `enrolled_at`; entries recorded before that moment are refused."""
    overrides.setdefault("day0_date", DAY0)
    return Patient(make, make.enrolled(enrolled_at, **overrides))
