"""Staff participant API: create (idempotent), list and search, read, update with a
reason, status changes — and nothing server-controlled is writable."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent, AuditEvent
from backend.participants.models import Participant
from tests.factories import Factory

URL = "/api/v1/participants"


def test_a_nurse_registers_a_participant_at_her_site(make: Factory, client: FlaskClient, db: Session) -> None:
    headers = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    payload = make.participant_payload(subject_code="TEH01-042")
    response = client.post(URL, json=payload, headers=headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["subject_code"] == "TEH01-042"
    assert body["status"] == "screening"
    assert body["site_code"] == "TEH-01"
    assert body["cohort_code"] == "LOW"
    assert response.headers["Cache-Control"] == "no-store"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "participant.create"))
    assert event is not None
    assert event.actor_role == "nurse"
    assert event.after is not None and event.after["subject_code"] == "TEH01-042"
    assert event.request_id == response.headers["X-Request-ID"]


def test_a_replay_returns_the_original_with_200(make: Factory, client: FlaskClient, db: Session) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    payload = make.participant_payload()
    first = client.post(URL, json=payload, headers=headers)
    again = client.post(URL, json=payload, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert len(db.scalars(select(Participant)).all()) == 1


def test_a_reused_client_uuid_with_another_payload_is_refused(make: Factory, client: FlaskClient) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    payload = make.participant_payload()
    client.post(URL, json=payload, headers=headers)
    response = client.post(URL, json={**payload, "target_leg": "left"}, headers=headers)
    assert response.status_code == 422
    assert "client_uuid" in response.json["errors"]["json"]


def test_a_subject_code_is_unique_in_the_study(make: Factory, client: FlaskClient) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    client.post(URL, json=make.participant_payload(subject_code="TEH01-007"), headers=headers)
    response = client.post(URL, json=make.participant_payload(subject_code="TEH01-007"), headers=headers)
    assert response.status_code == 409
    assert response.json["code"] == "conflict"


def test_server_controlled_fields_are_refused(make: Factory, client: FlaskClient, db: Session) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    for field, value in [("status", "active"), ("enrolled_at", "2026-01-01T00:00:00Z"), ("id", 99)]:
        response = client.post(URL, json={**make.participant_payload(), field: value}, headers=headers)
        assert response.status_code == 422
        assert response.json["errors"]["json"][field] == ["Unknown field."]
    assert db.scalars(select(Participant)).all() == []


def test_no_names_or_phone_numbers_are_accepted(make: Factory, client: FlaskClient) -> None:
    headers = make.staff_headers(make.staff("nurse"))
    for field in ("name", "phone"):
        response = client.post(URL, json={**make.participant_payload(), field: "x"}, headers=headers)
        assert response.status_code == 422
    response = client.post(URL, json=make.participant_payload(subject_code="Reza Ahmadi"), headers=headers)
    assert response.status_code == 422
    assert "subject_code" in response.json["errors"]["json"]
    columns = set(Participant.__table__.columns.keys())
    assert not columns & {"name", "first_name", "last_name", "phone", "phone_number", "email", "birth_date"}


def test_field_errors_name_the_field(make: Factory, client: FlaskClient) -> None:
    headers = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    cases = {
        "site_code": make.participant_payload(site_code="TEH-02"),
        "cohort_code": make.participant_payload(cohort_code="MEGA"),
        "timezone": make.participant_payload(timezone="Asia/Atlantis"),
        "language": make.participant_payload(language="de"),
        "target_leg": make.participant_payload(target_leg="both"),
        "consent_date": make.participant_payload(consent_date="2999-01-01"),
        # years that would overflow every date computed from day 0
        "day0_date": make.participant_payload(day0_date="9999-12-31"),
    }
    old = make.participant_payload(consent_date="0001-01-01")
    response = client.post(URL, json=old, headers=headers)
    assert response.status_code == 422 and "consent_date" in response.json["errors"]["json"], response.json
    for field, payload in cases.items():
        response = client.post(URL, json=payload, headers=headers)
        assert response.status_code == 422, (field, response.json)
        assert field in response.json["errors"]["json"], (field, response.json)


def test_list_is_paginated_filtered_and_scoped(make: Factory, client: FlaskClient) -> None:
    for n in range(1, 4):
        make.participant(subject_code=f"TEH01-10{n}")
    make.participant(subject_code="TEH02-201", site_code="TEH-02", cohort_code="HIGH")
    headers = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))

    page = client.get(URL, query_string={"page": 1, "page_size": 2}, headers=headers)
    assert page.status_code == 200
    assert [p["subject_code"] for p in page.json] == ["TEH01-101", "TEH01-102"]
    assert json.loads(page.headers["X-Pagination"])["total"] == 3
    assert page.headers["Cache-Control"] == "no-store"

    search = client.get(URL, query_string={"subject_code": "103"}, headers=headers)
    assert [p["subject_code"] for p in search.json] == ["TEH01-103"]

    admin = make.staff_headers(make.staff("admin"))
    high = client.get(URL, query_string={"cohort": "HIGH"}, headers=admin)
    assert [p["subject_code"] for p in high.json] == ["TEH02-201"]
    site2 = client.get(URL, query_string={"site": "TEH-02"}, headers=admin)
    assert [p["subject_code"] for p in site2.json] == ["TEH02-201"]
    screening = client.get(URL, query_string={"status": "withdrawn"}, headers=admin)
    assert screening.json == []


def test_reading_a_participant_is_logged(make: Factory, client: FlaskClient, db: Session) -> None:
    participant = make.participant()
    monitor = make.staff("monitor")
    response = client.get(f"{URL}/{participant.id}", headers=make.staff_headers(monitor))
    assert response.status_code == 200
    event = db.scalar(select(AccessEvent).where(AccessEvent.participant_id == participant.id))
    assert event is not None
    assert (event.actor_id, event.actor_role, event.resource) == (str(monitor.id), "monitor", "participant")


def test_an_update_needs_a_reason_and_is_audited(make: Factory, client: FlaskClient, db: Session) -> None:
    participant = make.participant(timezone="Asia/Tehran")
    headers = make.staff_headers(make.staff("nurse"))
    missing = client.patch(f"{URL}/{participant.id}", json={"timezone": "Europe/Berlin"}, headers=headers)
    assert missing.status_code == 422
    assert "reason" in missing.json["errors"]["json"]

    response = client.patch(
        f"{URL}/{participant.id}",
        json={"timezone": "Europe/Berlin", "day0_date": "2026-02-01", "reason": "moved to Berlin"},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    assert (response.json["timezone"], response.json["day0_date"]) == ("Europe/Berlin", "2026-02-01")
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "participant.update"))
    assert event is not None and event.before is not None and event.after is not None
    assert (event.before["timezone"], event.after["timezone"]) == ("Asia/Tehran", "Europe/Berlin")
    assert event.reason == "moved to Berlin"


def test_site_status_and_subject_code_cannot_be_patched(make: Factory, client: FlaskClient) -> None:
    participant = make.participant()
    headers = make.staff_headers(make.staff("nurse"))
    for field, value in [("site_code", "TEH-02"), ("status", "active"), ("subject_code", "X-1")]:
        response = client.patch(f"{URL}/{participant.id}", json={field: value, "reason": "try"}, headers=headers)
        assert response.status_code == 422
        assert response.json["errors"]["json"][field] == ["Unknown field."]


def test_enrol_withdraw_and_the_closed_record(make: Factory, client: FlaskClient, db: Session) -> None:
    participant = make.participant()
    patient = make.patient_headers(participant)
    nurse = make.staff_headers(make.staff("nurse"))
    investigator = make.staff_headers(make.staff("investigator"))

    enrolled = client.post(f"{URL}/{participant.id}/enrol", json={"reason": "eligible"}, headers=nurse)
    assert enrolled.status_code == 200 and enrolled.json["status"] == "active"
    assert enrolled.json["enrolled_at"] is not None

    assert client.post(f"{URL}/{participant.id}/withdraw", json={"reason": "x" * 5}, headers=nurse).status_code == 403
    withdrawn = client.post(
        f"{URL}/{participant.id}/withdraw", json={"reason": "withdrew consent"}, headers=investigator
    )
    assert withdrawn.status_code == 200
    assert (withdrawn.json["status"], withdrawn.json["withdrawal_reason"]) == ("withdrawn", "withdrew consent")
    assert client.get("/api/v1/me", headers=patient).status_code == 401

    again = client.post(f"{URL}/{participant.id}/enrol", json={"reason": "again"}, headers=nurse)
    assert again.status_code == 409
    closed = client.patch(f"{URL}/{participant.id}", json={"language": "en", "reason": "late"}, headers=nurse)
    assert closed.status_code == 409
    codes = client.post(f"{URL}/{participant.id}/activation-codes", headers=nurse)
    assert codes.status_code == 409


def test_enrolment_needs_a_cohort(make: Factory, client: FlaskClient) -> None:
    participant = make.participant(cohort_code=None)
    nurse = make.staff_headers(make.staff("nurse"))
    response = client.post(f"{URL}/{participant.id}/enrol", json={"reason": "eligible"}, headers=nurse)
    assert response.status_code == 409
    assert "cohort" in response.json["message"]


def test_the_patient_reads_only_their_own_profile(make: Factory, client: FlaskClient) -> None:
    mine = make.participant(subject_code="TEH01-501")
    make.participant(subject_code="TEH01-502")
    response = client.get("/api/v1/me", headers=make.patient_headers(mine))
    assert response.status_code == 200
    assert response.json["subject_code"] == "TEH01-501"
    assert response.json["study_code"] == "PMSC-CLI-1"
    assert response.headers["Cache-Control"] == "no-store"
