"""Six-minute walk tests through the API: every ATS field round-trips, implausible walks
are refused by name and write nothing, long walks are kept for review, replays are
idempotent, and the staff list filters by method."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.participants.models import Participant
from tests.factories import Factory
from tests.walks.helpers import FLAGS, OWN, T0, row_counts, staff_list, walk

EVERY_FIELD = {
    "method": "clinic_course",
    "distance_m": 392.5,
    "duration_s": 360,
    "course_length_m": 30.0,
    "laps": 13,
    "stopped_early": True,
    "rests_count": 2,
    "rests_total_s": 45,
    "limiting_symptom": "leg_pain",
    "borg_dyspnoea_before": 1,
    "borg_dyspnoea_after": 4,
    "borg_fatigue_before": 0,
    "borg_fatigue_after": 10,
    "supplemental_oxygen": True,
    "oxygen_l_per_min": 2.5,
    "assistive_device": "cane",
    "spo2_before": 97,
    "spo2_after": 91,
    "heart_rate_before": 72,
    "heart_rate_after": 118,
    "step_count": 540,
}


def field_errors(response: TestResponse) -> dict[str, Any]:
    """The per-field errors of a 422 on the request body."""
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    return response.json["errors"]["json"]


def test_every_ats_field_round_trips(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], participant: Participant
) -> None:
    body = walk(**EVERY_FIELD)
    response = client.post(OWN, json=body, headers=patient)
    assert response.status_code == 201, response.json
    created = response.json
    assert {k: created[k] for k in EVERY_FIELD} == EVERY_FIELD
    assert created["client_uuid"] == body["client_uuid"]
    # Device time 12:30 at +03:30 is stored and returned in UTC, the offset kept apart.
    assert created["recorded_at"] == "2026-03-02T09:00:00+00:00"
    assert created["recorded_utc_offset_minutes"] == 210
    assert created["received_at"] == "2026-03-02T09:00:00+00:00"
    assert created["local_date"] == "2026-03-02"
    assert created["study_day"] == -7  # day 0 is 2026-03-09
    assert created["late_entry"] is False
    assert created["needs_review"] is False
    assert created["entered_by_type"] == "participant"

    assert client.get(OWN, headers=patient).json == [created]
    assert client.get(staff_list(participant.id), headers=staff).json == [created]


def test_defaults_of_a_minimal_walk(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.post(OWN, json=walk(), headers=patient)
    assert response.status_code == 201, response.json
    created = response.json
    assert created["distance_m"] == 400.0
    assert created["duration_s"] == 360
    assert (created["stopped_early"], created["rests_count"], created["rests_total_s"]) == (False, 0, 0)
    assert (created["supplemental_oxygen"], created["assistive_device"]) == (False, "none")
    for optional in ("course_length_m", "laps", "limiting_symptom", "borg_dyspnoea_before", "spo2_after", "step_count"):
        assert created[optional] is None, optional


@pytest.mark.parametrize("distance", [-5, 5000, None, True])
def test_an_impossible_distance_is_refused_and_writes_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session, distance: object
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=walk(distance_m=distance), headers=patient)
    assert "distance_m" in field_errors(response)
    assert row_counts(db) == before


@pytest.mark.parametrize(
    ("field", "text"), [("distance_m", "300"), ("course_length_m", "30"), ("oxygen_l_per_min", "2")]
)
def test_a_measurement_given_as_a_string_is_refused(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str, text: str
) -> None:
    # Like the integer fields (StrictInteger), a number sent as text is a client bug, not a value.
    before = row_counts(db)
    body = {**walk(method="clinic_course", course_length_m=30, supplemental_oxygen=True), field: text}
    response = client.post(OWN, json=body, headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before


def test_a_nan_distance_is_refused(client: FlaskClient, patient: dict[str, str], db: Session) -> None:
    before = row_counts(db)
    text = json.dumps(walk(distance_m=0)).replace('"distance_m": 0', '"distance_m": NaN')
    assert "NaN" in text
    response = client.post(OWN, data=text, content_type="application/json", headers=patient)
    assert "distance_m" in field_errors(response)
    assert row_counts(db) == before


def test_faster_than_3_m_per_s_is_refused(client: FlaskClient, patient: dict[str, str], db: Session) -> None:
    before = row_counts(db)
    # 1000 m in 300 s is 3.33 m/s; the limit for 300 s is 900 m.
    response = client.post(OWN, json=walk(distance_m=1000, duration_s=300), headers=patient)
    errors = field_errors(response)
    assert list(errors) == ["distance_m"]
    assert row_counts(db) == before


def test_exactly_3_m_per_s_is_accepted_for_review(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.post(OWN, json=walk(distance_m=900, duration_s=300), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["needs_review"] is True


@pytest.mark.parametrize("method", ["clinic_course", "home_course"])
def test_a_course_test_needs_the_course_length(
    client: FlaskClient, patient: dict[str, str], db: Session, method: str
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=walk(method=method, laps=13), headers=patient)
    assert list(field_errors(response)) == ["course_length_m"]
    assert row_counts(db) == before


@pytest.mark.parametrize("method", ["phone_gps", "phone_pedometer"])
def test_a_phone_test_needs_no_course_length(client: FlaskClient, patient: dict[str, str], method: str) -> None:
    response = client.post(OWN, json=walk(method=method), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["method"] == method


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "treadmill"),
        ("limiting_symptom", "knee"),
        ("assistive_device", "wheelchair"),
        ("borg_dyspnoea_before", 11),
        ("borg_fatigue_after", -1),
        ("borg_dyspnoea_after", 3.5),
        ("spo2_after", 101),
        ("heart_rate_before", 19),
        ("step_count", "540"),
        ("duration_s", 59),
        ("rests_count", 51),
        ("oxygen_l_per_min", 16),
        ("course_length_m", 4),
    ],
)
def test_out_of_range_fields_are_refused_by_name(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str, value: object
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=walk(**{field: value}), headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before


def test_rests_cannot_outlast_the_test(client: FlaskClient, patient: dict[str, str], db: Session) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=walk(rests_count=3, rests_total_s=361), headers=patient)
    assert list(field_errors(response)) == ["rests_total_s"]
    assert row_counts(db) == before


def test_a_long_walk_is_kept_and_flagged_for_review(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], participant: Participant
) -> None:
    # 720 m in 360 s is 2 m/s: possible, but above the 700 m review line.
    response = client.post(OWN, json=walk(distance_m=720), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["needs_review"] is True
    flags = client.get(FLAGS, query_string={"kind": "walk_borderline"}, headers=staff).json
    assert len(flags) == 1
    flag = flags[0]
    assert flag["participant_id"] == participant.id
    assert flag["subject_code"] == participant.subject_code
    assert (flag["entity_type"], flag["entity_id"]) == ("walk_test", response.json["id"])
    assert flag["detail"] == {"distance_m": 720.0}
    assert flag["urgent"] is False
    assert flag["raised_at"] == "2026-03-02T09:00:00+00:00"


def test_700_m_is_not_yet_borderline(client: FlaskClient, patient: dict[str, str], staff: dict[str, str]) -> None:
    response = client.post(OWN, json=walk(distance_m=700), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["needs_review"] is False
    assert client.get(FLAGS, headers=staff).json == []


def test_a_replay_returns_the_original_with_200(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], db: Session
) -> None:
    body = walk(distance_m=720)
    first = client.post(OWN, json=body, headers=patient)
    counts = row_counts(db)
    again = client.post(OWN, json=body, headers=patient)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert row_counts(db) == counts  # no second test, flag or audit event
    assert len(client.get(FLAGS, headers=staff).json) == 1


def test_a_reused_client_uuid_with_other_content_is_refused(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    body = walk(distance_m=400)
    original = client.post(OWN, json=body, headers=patient).json
    counts = row_counts(db)
    response = client.post(OWN, json={**body, "distance_m": 410}, headers=patient)
    assert list(field_errors(response)) == ["client_uuid"]
    assert row_counts(db) == counts
    assert client.get(OWN, headers=patient).json == [original]
    assert original["distance_m"] == 400.0


def test_entries_from_the_future_or_before_enrolment_are_refused(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    before = row_counts(db)
    for recorded_at in (
        "2026-03-02T12:35:01+03:30",  # 5 min 1 s ahead of the server
        "2026-03-02T12:29:59+03:30",  # a second before enrolment
        "2026-03-02T12:30:00",  # no UTC offset
    ):
        response = client.post(OWN, json=walk(recorded_at=recorded_at), headers=patient)
        assert list(field_errors(response)) == ["recorded_at"], recorded_at
    assert row_counts(db) == before


def test_a_phone_clock_up_to_5_minutes_fast_is_tolerated(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.post(OWN, json=walk(recorded_at="2026-03-02T12:35:00+03:30"), headers=patient)
    assert response.status_code == 201, response.json


def test_the_staff_list_filters_by_method_newest_first(
    client: FlaskClient,
    patient: dict[str, str],
    staff: dict[str, str],
    participant: Participant,
    clock: time_machine.Traveller,
) -> None:
    clinic = walk(method="clinic_course", course_length_m=30, distance_m=350)
    first_gps = walk(distance_m=380)
    ids = {}
    for name, body in (("clinic", clinic), ("gps1", first_gps)):
        ids[name] = client.post(OWN, json=body, headers=patient).json["id"]
    clock.move_to(T0 + timedelta(minutes=10))
    later = walk(distance_m=390, recorded_at="2026-03-02T12:40:00+03:30")
    ids["gps2"] = client.post(OWN, json=later, headers=patient).json["id"]

    url = staff_list(participant.id)
    gps = client.get(url, query_string={"method": "phone_gps"}, headers=staff).json
    assert [w["id"] for w in gps] == [ids["gps2"], ids["gps1"]]
    courses = client.get(url, query_string={"method": "clinic_course"}, headers=staff).json
    assert [w["id"] for w in courses] == [ids["clinic"]]
    assert client.get(url, query_string={"method": "home_course"}, headers=staff).json == []
    assert len(client.get(url, headers=staff).json) == 3
    assert client.get(url, query_string={"method": "bicycle"}, headers=staff).status_code == 422


def test_another_sites_nurse_cannot_read_the_walks(
    client: FlaskClient, make: Factory, patient: dict[str, str], participant: Participant
) -> None:
    client.post(OWN, json=walk(), headers=patient)
    other = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    response = client.get(staff_list(participant.id), headers=other)
    assert response.status_code == 404


@pytest.mark.parametrize("field", ["stopped_early", "supplemental_oxygen"])
@pytest.mark.parametrize("value", ["yes", "1", 1, "true"])
def test_a_yes_no_field_takes_only_json_true_or_false(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str, value: object
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json={**walk(), field: value}, headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before
