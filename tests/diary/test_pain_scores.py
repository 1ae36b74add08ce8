"""Recording a rest-pain score: what is stored and returned, what is refused (and then
nothing is written), idempotent replays, and when an entry may be recorded."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.core.actor import Actor
from backend.diary.models import PainScore
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from tests.diary.helpers import FLAGS, NOW, SCORES, Patient, field_errors, tehran
from tests.factories import Factory

VALID = {"score": 4, "recorded_at": "2026-03-05T20:15:00+03:30"}


def count(db: Session, model: type[Any]) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_score_is_stored_with_its_diary_day_study_day_and_device_offset(patient: Patient, db: Session) -> None:
    response = patient.post_score(4, "2026-03-05T20:15:00+03:30", note="after walking to the bakery")

    assert response.status_code == 201, response.json
    body = response.json
    assert body["score"] == 4
    assert body["note"] == "after walking to the bakery"
    assert body["diary_date"] == "2026-03-05"
    assert body["study_day"] == 4  # 5 March − 1 March
    assert body["recorded_at"] == "2026-03-05T16:45:00+00:00"  # 20:15 − 3:30, returned in UTC
    assert body["recorded_utc_offset_minutes"] == 210
    assert body["received_at"] == "2026-03-05T17:00:00+00:00"
    assert body["late_entry"] is False
    assert body["is_current"] is True
    assert body["superseded_by_id"] is None
    assert body["corrects_id"] is None
    assert body["entered_by_type"] == "participant"

    row = db.get(PainScore, body["id"])
    assert row is not None
    assert row.recorded_at == datetime(2026, 3, 5, 16, 45, tzinfo=UTC)
    assert row.recorded_at.utcoffset() == timedelta(0)
    assert row.participant_id == patient.id
    assert row.local_date.isoformat() == "2026-03-05"
    created = db.scalar(select(AuditEvent).where(AuditEvent.action == "pain_score.create"))
    assert created is not None and created.entity_id == str(body["id"]) and created.actor_type == "participant"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("score", 11),
        ("score", -1),
        ("score", 3.5),
        ("score", "7"),
        ("score", True),
        ("score", None),
        ("recorded_at", "2026-03-05T20:15:00"),  # no UTC offset: its instant is a guess
        ("recorded_at", "yesterday evening"),
        ("diary_date", "05/03/2026"),
        ("client_uuid", "not-a-uuid"),
        ("note", "x" * 501),
    ],
)
def test_a_bad_value_is_refused_by_name_and_nothing_is_written(
    patient: Patient, client: FlaskClient, db: Session, field: str, value: Any
) -> None:
    body = {"client_uuid": str(uuid.uuid4()), **VALID, field: value}

    response = client.post(SCORES, json=body, headers=patient.headers)

    assert response.json["code"] == "unprocessable_entity"
    assert list(field_errors(response)) == [field]
    assert count(db, PainScore) == 0


def test_an_unknown_field_is_refused(patient: Patient, client: FlaskClient, db: Session) -> None:
    body = {"client_uuid": str(uuid.uuid4()), **VALID, "mood": "grumpy"}

    response = client.post(SCORES, json=body, headers=patient.headers)

    assert field_errors(response) == {"mood": ["Unknown field."]}
    assert count(db, PainScore) == 0


@pytest.mark.parametrize("missing", ["client_uuid", "score", "recorded_at"])
def test_a_required_field_is_named_when_missing(
    patient: Patient, client: FlaskClient, db: Session, missing: str
) -> None:
    body = {"client_uuid": str(uuid.uuid4()), **VALID}
    del body[missing]

    response = client.post(SCORES, json=body, headers=patient.headers)

    assert list(field_errors(response)) == [missing]
    assert count(db, PainScore) == 0


# --- replays ---------------------------------------------------------------------------


def test_a_replay_returns_the_original_with_200(patient: Patient, client: FlaskClient, db: Session) -> None:
    body = patient.score_body(4, "2026-03-05T20:15:00+03:30")

    first = client.post(SCORES, json=body, headers=patient.headers)
    again = client.post(SCORES, json=body, headers=patient.headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert count(db, PainScore) == 1
    assert db.scalar(select(func.count()).where(AuditEvent.action == "pain_score.create")) == 1


def test_a_reused_client_uuid_with_another_score_is_refused(patient: Patient, client: FlaskClient, db: Session) -> None:
    body = patient.score_body(4, "2026-03-05T20:15:00+03:30")
    original = client.post(SCORES, json=body, headers=patient.headers).json

    response = client.post(SCORES, json={**body, "score": 7}, headers=patient.headers)

    assert "client_uuid" in field_errors(response)
    assert response.json["code"] == "validation_failed"
    assert [(s["id"], s["score"]) for s in patient.scores(include_superseded=True)] == [(original["id"], 4)]


# --- when an entry may be recorded -----------------------------------------------------


@pytest.mark.parametrize(("hours_ago", "late"), [(47, False), (49, True)])
def test_an_entry_recorded_over_48_hours_before_receipt_is_kept_and_flagged_late(
    patient: Patient, make: Factory, client: FlaskClient, nurse: StaffUser, hours_ago: int, late: bool
) -> None:
    recorded = NOW - timedelta(hours=hours_ago)  # 49 h: Tuesday 3 March 16:00 UTC, 19:30 in Tehran

    response = patient.post_score(5, recorded)

    assert response.status_code == 201, response.json
    assert response.json["late_entry"] is late
    flags = client.get(FLAGS, query_string={"kind": "late_entry"}, headers=make.staff_headers(nurse)).json
    if not late:
        assert flags == []
        return
    assert response.json["diary_date"] == "2026-03-03"
    assert [(f["participant_id"], f["entity_type"], f["entity_id"]) for f in flags] == [
        (patient.id, "pain_score", response.json["id"])
    ]
    assert flags[0]["detail"] == {"recorded_at": "2026-03-03T16:00:00+00:00"}
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.get(FLAGS, query_string={"kind": "late_entry"}, headers=other_site).json == []


def test_an_entry_from_the_future_is_refused(patient: Patient, db: Session) -> None:
    response = patient.post_score(4, NOW + timedelta(minutes=10))

    assert "recorded_at" in field_errors(response)
    assert count(db, PainScore) == 0


def test_a_phone_clock_in_year_one_is_refused_not_a_crash(patient: Patient, db: Session) -> None:
    # Found by schemathesis: the week before 4 January of year 1 is not a date.
    response = patient.post_score(0, "0001-01-04T06:06:07+00:09")

    assert response.status_code == 422 and "recorded_at" in field_errors(response)
    assert count(db, PainScore) == 0


def test_a_phone_clock_a_few_minutes_ahead_is_tolerated(patient: Patient) -> None:
    response = patient.post_score(4, NOW + timedelta(minutes=4))

    assert response.status_code == 201, response.json
    assert response.json["recorded_at"] == "2026-03-05T17:04:00+00:00"
    assert response.json["diary_date"] == "2026-03-05"


def test_an_entry_recorded_before_enrolment_is_refused(enrol: Callable[..., Patient], db: Session) -> None:
    patient = enrol(enrolled_at=NOW - timedelta(hours=1))

    before = patient.post_score(4, NOW - timedelta(hours=1, minutes=1))
    after = patient.post_score(4, NOW - timedelta(minutes=59))

    assert "recorded_at" in field_errors(before)
    assert after.status_code == 201, after.json
    assert count(db, PainScore) == 1


def test_a_participant_in_screening_cannot_record(make: Factory, clock: object, db: Session) -> None:
    screening = Patient(make, make.participant(day0_date="2026-03-01"))

    response = screening.post_score(4, tehran("2026-03-05", "20:15"))

    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_failed"
    assert count(db, PainScore) == 0


def test_a_withdrawn_participants_phone_is_signed_out(patient: Patient, make: Factory, db: Session) -> None:
    headers = patient.headers
    actor = Actor.system("test", study_id=patient.participant.study_id)
    change_status(db, actor, patient.id, "withdraw", "moved abroad", NOW)

    response = make.client.post(SCORES, json=patient.score_body(4, tehran("2026-03-05", "20:15")), headers=headers)

    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"
    assert count(db, PainScore) == 0
