"""Registering ulcers and recording their closure."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.participants.models import Participant
from tests.factories import Factory
from tests.ulcers.helpers import OWN_ULCERS, ulcer_body


def closures_url(participant_id: int, ulcer_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/ulcers/{ulcer_id}/closures"


def test_patient_registers_and_lists_ulcers(client: FlaskClient, patient: dict[str, str]) -> None:
    body = ulcer_body(label="heel", location="heel", leg="left")
    created = client.post(OWN_ULCERS, json=body, headers=patient)
    assert created.status_code == 201
    assert created.json["label"] == "heel"
    assert created.json["healed_on"] is None
    replay = client.post(OWN_ULCERS, json=body, headers=patient)
    assert replay.status_code == 200 and replay.json["id"] == created.json["id"]
    listed = client.get(OWN_ULCERS, headers=patient)
    assert [u["label"] for u in listed.json] == ["heel"]


def test_label_is_unique_per_participant(client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]) -> None:
    response = client.post(OWN_ULCERS, json=ulcer_body(label=ulcer["label"]), headers=patient)
    assert response.status_code == 422
    assert "label" in response.json["errors"]["json"]


def test_only_an_active_participant_registers_ulcers_from_the_app(
    client: FlaskClient, make: Factory, clock: object
) -> None:
    screening = make.participant()  # activated phone, not enrolled yet
    response = client.post(OWN_ULCERS, json=ulcer_body(), headers=make.patient_headers(screening))
    assert response.status_code == 422
    assert response.json["code"] == "validation_failed" and "not active" in str(response.json["errors"])
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    by_staff = client.post(f"/api/v1/participants/{screening.id}/ulcers", json=ulcer_body(), headers=nurse)
    assert by_staff.status_code == 201  # staff may record an ulcer seen at screening


def test_bad_ulcer_input_names_the_field(client: FlaskClient, patient: dict[str, str]) -> None:
    cases = {
        "location": ulcer_body(location="elbow"),
        "first_seen_on": ulcer_body(first_seen_on="2026-03-03"),  # tomorrow in Tehran
        "label": ulcer_body(label=" A"),
    }
    for field, body in cases.items():
        response = client.post(OWN_ULCERS, json=body, headers=patient)
        assert response.status_code == 422, field
        assert field in response.json["errors"]["json"], field
    assert client.get(OWN_ULCERS, headers=patient).json == []


def test_nurse_records_closures_audited(
    client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant, ulcer: dict[str, Any]
) -> None:
    url = closures_url(participant.id, ulcer["id"])
    first = client.post(url, json={"observed_on": "2026-03-01", "note": "fully epithelialised"}, headers=staff)
    assert first.status_code == 201
    assert first.json["healed_on"] == "2026-03-01"
    confirm = client.post(url, json={"observed_on": "2026-03-02"}, headers=staff)
    assert confirm.status_code == 201
    assert confirm.json["healed_on"] == "2026-03-01"
    assert [c["observed_on"] for c in confirm.json["closures"]] == ["2026-03-01", "2026-03-02"]
    assert client.post(url, json={"observed_on": "2026-03-02"}, headers=staff).status_code == 409
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "ulcer.closure")).all()
    assert len(events) == 2
    assert events[0].reason == "fully epithelialised"
    assert events[0].before is not None and events[0].before["healed_on"] is None


def test_closure_dates_are_checked(
    client: FlaskClient, staff: dict[str, str], participant: Participant, ulcer: dict[str, Any]
) -> None:
    url = closures_url(participant.id, ulcer["id"])
    future = client.post(url, json={"observed_on": "2026-03-03"}, headers=staff)
    before_seen = client.post(url, json={"observed_on": "2026-02-19"}, headers=staff)
    assert future.status_code == before_seen.status_code == 422
    assert "observed_on" in future.json["errors"]["json"]


def test_only_staff_record_closures(
    client: FlaskClient, make: Factory, patient: dict[str, str], participant: Participant, ulcer: dict[str, Any]
) -> None:
    url = closures_url(participant.id, ulcer["id"])
    assert client.post(url, json={"observed_on": "2026-03-01"}, headers=patient).status_code == 403
    monitor = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    assert client.post(url, json={"observed_on": "2026-03-01"}, headers=monitor).status_code == 403
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.post(url, json={"observed_on": "2026-03-01"}, headers=other_site).status_code == 404
