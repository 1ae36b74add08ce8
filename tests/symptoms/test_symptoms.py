"""Symptom reports through the API: the six categories and three severities, onset no
later than the report's local day, a flag for every report (severe ones urgent and first
in the nurse's queue), idempotent replays, and refusals that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.participants.models import Participant
from tests.factories import Factory
from tests.symptoms.helpers import FLAGS, OWN, T0, row_counts, staff_list, symptom

CATEGORIES = [
    "injection_site_reaction",
    "fever",
    "leg_pain_new_or_worse",
    "wound_new_or_infected",
    "swelling",
    "other",
]


def field_errors(response: TestResponse) -> dict[str, Any]:
    """The per-field errors of a 422 on the request body."""
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    return response.json["errors"]["json"]


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_is_recorded_and_flagged(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], participant: Participant, category: str
) -> None:
    body = symptom(category=category)
    response = client.post(OWN, json=body, headers=patient)
    assert response.status_code == 201, response.json
    report = response.json
    assert (report["category"], report["severity"], report["onset_date"]) == (category, "mild", "2026-03-01")
    assert report["client_uuid"] == body["client_uuid"]
    assert report["recorded_at"] == "2026-03-02T09:00:00+00:00"
    assert report["recorded_utc_offset_minutes"] == 210
    assert (report["local_date"], report["study_day"]) == ("2026-03-02", 0)
    assert report["description"] is None
    assert report["late_entry"] is False
    assert report["entered_by_type"] == "participant"

    flags = client.get(FLAGS, headers=staff).json
    assert len(flags) == 1
    flag = flags[0]
    assert (flag["kind"], flag["urgent"]) == ("symptom", False)
    assert (flag["entity_type"], flag["entity_id"]) == ("symptom_report", report["id"])
    assert flag["detail"] == {"category": category, "severity": "mild", "late_entry": False}
    assert flag["subject_code"] == participant.subject_code


@pytest.mark.parametrize(("severity", "urgent"), [("mild", False), ("moderate", False), ("severe", True)])
def test_each_severity_is_recorded_and_only_severe_is_urgent(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], severity: str, urgent: bool
) -> None:
    response = client.post(OWN, json=symptom(severity=severity), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["severity"] == severity
    [flag] = client.get(FLAGS, headers=staff).json
    assert flag["urgent"] is urgent


def test_the_description_round_trips(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], participant: Participant
) -> None:
    text = "قرمزی و تورم در محل تزریق، از دیروز"  # redness and swelling at the injection site, since yesterday
    body = symptom(category="injection_site_reaction", severity="moderate", description=text)
    created = client.post(OWN, json=body, headers=patient).json
    assert created["description"] == text
    assert client.get(OWN, headers=patient).json == [created]
    assert client.get(staff_list(participant.id), headers=staff).json == [created]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "headache"),
        ("category", None),
        ("severity", "life_threatening"),
        ("severity", "SEVERE"),
        ("onset_date", "yesterday"),
        ("description", "x" * 2001),
    ],
)
def test_invalid_fields_are_refused_by_name_and_write_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str, value: object
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=symptom(**{field: value}), headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before


def test_an_onset_after_the_report_date_is_refused(client: FlaskClient, patient: dict[str, str], db: Session) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=symptom(onset_date="2026-03-03"), headers=patient)
    assert list(field_errors(response)) == ["onset_date"]
    assert row_counts(db) == before


def test_an_onset_on_the_report_date_is_accepted(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.post(OWN, json=symptom(onset_date="2026-03-02"), headers=patient)
    assert response.status_code == 201, response.json


def test_the_report_date_is_the_patients_local_date(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    # 21:00 UTC on 2 March is 00:30 on 3 March in Tehran: an onset on the 3rd is today there.
    clock.move_to(datetime(2026, 3, 2, 21, 0, tzinfo=UTC))
    patient = make.patient_headers(participant)
    body = symptom(recorded_at="2026-03-02T21:00:00+00:00", onset_date="2026-03-03")
    response = client.post(OWN, json=body, headers=patient)
    assert response.status_code == 201, response.json
    assert (response.json["local_date"], response.json["study_day"]) == ("2026-03-03", 1)
    assert response.json["recorded_utc_offset_minutes"] == 0
    too_late = symptom(recorded_at="2026-03-02T21:00:00+00:00", onset_date="2026-03-04")
    assert list(field_errors(client.post(OWN, json=too_late, headers=patient))) == ["onset_date"]


def test_severe_reports_come_first_in_the_nurses_queue(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], clock: time_machine.Traveller
) -> None:
    ids = {}
    for minute, severity in enumerate(("mild", "moderate", "severe")):
        clock.move_to(T0 + timedelta(minutes=minute))
        recorded_at = (T0 + timedelta(minutes=minute)).isoformat()
        response = client.post(OWN, json=symptom(severity=severity, recorded_at=recorded_at), headers=patient)
        ids[severity] = response.json["id"]
    flags = client.get(FLAGS, headers=staff).json
    # Urgent first, then oldest first.
    assert [f["entity_id"] for f in flags] == [ids["severe"], ids["mild"], ids["moderate"]]
    assert [f["urgent"] for f in flags] == [True, False, False]
    assert [f["raised_at"] for f in flags] == [
        "2026-03-02T09:02:00+00:00",
        "2026-03-02T09:00:00+00:00",
        "2026-03-02T09:01:00+00:00",
    ]


def test_a_replay_returns_the_original_and_raises_no_second_flag(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], db: Session
) -> None:
    body = symptom(severity="severe")
    first = client.post(OWN, json=body, headers=patient)
    counts = row_counts(db)
    again = client.post(OWN, json=body, headers=patient)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert row_counts(db) == counts
    assert len(client.get(FLAGS, headers=staff).json) == 1


def test_a_reused_client_uuid_with_other_content_is_refused(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    body = symptom(severity="mild")
    original = client.post(OWN, json=body, headers=patient).json
    counts = row_counts(db)
    response = client.post(OWN, json={**body, "severity": "severe"}, headers=patient)
    assert list(field_errors(response)) == ["client_uuid"]
    assert row_counts(db) == counts
    assert client.get(OWN, headers=patient).json == [original]


def test_the_staff_list_filters_by_severity_newest_first(
    client: FlaskClient,
    patient: dict[str, str],
    staff: dict[str, str],
    participant: Participant,
    clock: time_machine.Traveller,
) -> None:
    ids = []
    for minute, severity in enumerate(("severe", "mild", "severe")):
        clock.move_to(T0 + timedelta(minutes=minute))
        body = symptom(severity=severity, recorded_at=(T0 + timedelta(minutes=minute)).isoformat())
        ids.append(client.post(OWN, json=body, headers=patient).json["id"])
    url = staff_list(participant.id)
    assert [r["id"] for r in client.get(url, query_string={"severity": "severe"}, headers=staff).json] == [
        ids[2],
        ids[0],
    ]
    assert [r["id"] for r in client.get(url, query_string={"severity": "mild"}, headers=staff).json] == [ids[1]]
    assert [r["id"] for r in client.get(url, headers=staff).json] == [ids[2], ids[1], ids[0]]


def test_a_report_is_audited(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], participant: Participant
) -> None:
    report = client.post(OWN, json=symptom(), headers=patient).json
    trail = client.get(f"/api/v1/participants/{participant.id}/audit", headers=staff).json
    events = [e for e in trail if e["action"] == "symptom_report.create"]
    assert len(events) == 1
    assert (events[0]["actor_type"], events[0]["entity_id"]) == ("participant", str(report["id"]))


def test_a_late_report_is_marked_late_on_its_flag(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    clock.move_to(T0 + timedelta(hours=49))
    patient = make.patient_headers(participant)
    response = client.post(OWN, json=symptom(), headers=patient)  # recorded at T0, sent 49 h later
    assert response.status_code == 201, response.json
    assert response.json["late_entry"] is True
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    [flag] = client.get(FLAGS, query_string={"kind": "symptom"}, headers=nurse).json
    assert flag["detail"]["late_entry"] is True
    [late] = client.get(FLAGS, query_string={"kind": "late_entry"}, headers=nurse).json
    assert (late["entity_type"], late["entity_id"]) == ("symptom_report", response.json["id"])


def test_a_participant_not_yet_enrolled_cannot_report(
    client: FlaskClient, make: Factory, db: Session, clock: time_machine.Traveller
) -> None:
    screening = make.participant()
    patient = make.patient_headers(screening)
    before = row_counts(db)
    response = client.post(OWN, json=symptom(), headers=patient)
    assert response.status_code == 422
    assert row_counts(db) == before
