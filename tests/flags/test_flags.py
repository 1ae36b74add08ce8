"""The nurse's flag queue through the API: site scope, state and kind filters, ordering,
pagination, audited acknowledgement (once, by the right roles at the right site), and
late_entry flags for entries sent more than 48 hours after they were recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.flags.models import Flag
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.factories import Factory
from tests.flags.helpers import FLAGS, PAIN, T0, WALKS, acknowledge_url, entry, report_symptom


def flag_ids(client: FlaskClient, headers: dict[str, str], **query: object) -> list[int]:
    response = client.get(FLAGS, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return [f["id"] for f in response.json]


def only_flag_of(client: FlaskClient, headers: dict[str, str], entity_id: int) -> dict[str, Any]:
    [flag] = [
        f for f in client.get(FLAGS, query_string={"state": "all"}, headers=headers).json if f["entity_id"] == entity_id
    ]
    return flag


def written(db: Session) -> tuple[int, int]:
    """(flags, audit events): a refusal changes neither."""
    return (
        db.scalar(select(func.count()).select_from(Flag)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def test_a_nurse_sees_only_the_flags_of_her_sites(
    client: FlaskClient,
    make: Factory,
    patient: dict[str, str],
    other_patient: dict[str, str],
    staff: dict[str, str],
    other_staff: dict[str, str],
    participant: Participant,
    other_participant: Participant,
) -> None:
    report_symptom(client, patient)
    report_symptom(client, other_patient)
    [teh01] = client.get(FLAGS, headers=staff).json
    [teh02] = client.get(FLAGS, headers=other_staff).json
    assert (teh01["participant_id"], teh01["subject_code"]) == (participant.id, "TEH01-001")
    assert (teh02["participant_id"], teh02["subject_code"]) == (other_participant.id, "TEH02-001")
    # Asking for the other site's participant by id finds nothing either.
    assert flag_ids(client, other_staff, participant_id=participant.id) == []
    # Staff of both sites, and the study admin, see both.
    both = make.staff_headers(make.staff("investigator", sites=("TEH-01", "TEH-02")))
    admin = make.staff_headers(make.staff("admin"))
    assert flag_ids(client, both) == flag_ids(client, admin) == [teh01["id"], teh02["id"]]


def test_a_patient_cannot_read_the_queue(client: FlaskClient, patient: dict[str, str]) -> None:
    report_symptom(client, patient)
    assert client.get(FLAGS, headers=patient).status_code == 403


def test_state_filter_open_by_default(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], clock: time_machine.Traveller
) -> None:
    reports = []
    for minute in range(3):
        clock.move_to(T0 + timedelta(minutes=minute))
        reports.append(report_symptom(client, patient, recorded_at=(T0 + timedelta(minutes=minute)).isoformat()))
    first, second, third = flag_ids(client, staff, state="all")
    response = client.post(acknowledge_url(second), json={"note": "Rang her; paracetamol."}, headers=staff)
    assert response.status_code == 200, response.json

    assert flag_ids(client, staff) == [first, third]
    assert flag_ids(client, staff, state="open") == [first, third]
    assert flag_ids(client, staff, state="acknowledged") == [second]
    assert flag_ids(client, staff, state="all") == [first, second, third]
    assert client.get(FLAGS, query_string={"state": "closed"}, headers=staff).status_code == 422


def test_kind_and_participant_filters(
    client: FlaskClient,
    patient: dict[str, str],
    other_patient: dict[str, str],
    participant: Participant,
    other_participant: Participant,
    make: Factory,
) -> None:
    report_symptom(client, patient)
    long_walk = entry(method="phone_gps", distance_m=720)  # above 700 m: walk_borderline
    walk_id = client.post(WALKS, json=long_walk, headers=patient).json["id"]
    report_symptom(client, other_patient)
    headers = make.staff_headers(make.staff("admin"))

    borderline = client.get(FLAGS, query_string={"kind": "walk_borderline"}, headers=headers).json
    assert [(f["kind"], f["entity_id"]) for f in borderline] == [("walk_borderline", walk_id)]
    symptoms = client.get(FLAGS, query_string={"kind": "symptom"}, headers=headers).json
    assert sorted(f["participant_id"] for f in symptoms) == sorted([participant.id, other_participant.id])
    mine = client.get(FLAGS, query_string={"participant_id": participant.id}, headers=headers).json
    assert sorted(f["kind"] for f in mine) == ["symptom", "walk_borderline"]
    assert client.get(FLAGS, query_string={"kind": "nonsense"}, headers=headers).status_code == 422


def test_acknowledging_records_the_note_and_the_nurse_and_is_audited(
    client: FlaskClient,
    patient: dict[str, str],
    staff: dict[str, str],
    nurse: StaffUser,
    participant: Participant,
    clock: time_machine.Traveller,
) -> None:
    report_symptom(client, patient, severity="severe")
    [flag_id] = flag_ids(client, staff)
    clock.move_to(T0 + timedelta(minutes=5))
    note = "Called her: fever 38.4 °C, advised to attend the clinic today."
    response = client.post(acknowledge_url(flag_id), json={"note": note}, headers=staff)
    assert response.status_code == 200, response.json
    flag = response.json
    assert flag["acknowledged_at"] == "2026-03-02T09:05:00+00:00"
    assert flag["acknowledged_by_id"] == nurse.id
    assert flag["acknowledgement_note"] == note
    assert flag_ids(client, staff) == []

    trail = client.get(f"/api/v1/participants/{participant.id}/audit", headers=staff).json
    [event] = [e for e in trail if e["action"] == "flag.acknowledge"]
    assert (event["entity_type"], event["entity_id"]) == ("flag", str(flag_id))
    assert (event["actor_type"], event["actor_role"]) == ("staff", "nurse")
    assert event["reason"] == note
    assert event["occurred_at"] == "2026-03-02T09:05:00+00:00"
    assert event["before"]["acknowledged_at"] is None
    assert event["after"]["acknowledgement_note"] == note


def test_a_flag_is_acknowledged_once(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], make: Factory, db: Session
) -> None:
    report_symptom(client, patient)
    [flag_id] = flag_ids(client, staff)
    first = client.post(acknowledge_url(flag_id), json={"note": "Seen."}, headers=staff).json
    colleague = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    before = written(db)
    for headers in (staff, colleague):
        response = client.post(acknowledge_url(flag_id), json={"note": "Seen again."}, headers=headers)
        assert response.status_code == 409, response.json
        assert response.json["code"] == "conflict"
    assert written(db) == before
    assert only_flag_of(client, staff, first["entity_id"]) == first


def test_another_sites_flag_is_not_found(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], other_staff: dict[str, str], db: Session
) -> None:
    report_symptom(client, patient)
    [flag_id] = flag_ids(client, staff)
    before = written(db)
    response = client.post(acknowledge_url(flag_id), json={"note": "Not mine."}, headers=other_staff)
    assert response.status_code == 404
    assert written(db) == before
    assert flag_ids(client, staff) == [flag_id]  # still open
    unknown = client.post(acknowledge_url(flag_id + 1000), json={"note": "?"}, headers=staff)
    assert unknown.status_code == 404


def test_a_monitor_may_read_but_not_acknowledge(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], make: Factory, db: Session
) -> None:
    report_symptom(client, patient)
    monitor = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    [flag_id] = flag_ids(client, monitor)
    before = written(db)
    response = client.post(acknowledge_url(flag_id), json={"note": "Looks fine."}, headers=monitor)
    assert response.status_code == 403
    assert written(db) == before
    assert flag_ids(client, staff) == [flag_id]


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "x" * 1001}, {"note": "ok", "urgent": False}])
def test_an_acknowledgement_needs_a_note(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], db: Session, body: dict[str, Any]
) -> None:
    report_symptom(client, patient)
    [flag_id] = flag_ids(client, staff)
    before = written(db)
    response = client.post(acknowledge_url(flag_id), json=body, headers=staff)
    assert response.status_code == 422
    assert written(db) == before
    assert flag_ids(client, staff) == [flag_id]


@pytest.mark.parametrize(
    ("url", "fields", "entity_type"),
    [
        (WALKS, {"method": "phone_gps", "distance_m": 400}, "walk_test"),
        (PAIN, {"score": 4}, "pain_score"),
    ],
)
def test_an_entry_sent_49_hours_after_it_was_recorded_raises_late_entry(
    client: FlaskClient,
    make: Factory,
    participant: Participant,
    clock: time_machine.Traveller,
    url: str,
    fields: dict[str, Any],
    entity_type: str,
) -> None:
    clock.move_to(T0 + timedelta(hours=49))
    patient = make.patient_headers(participant)
    response = client.post(url, json=entry(**fields), headers=patient)  # recorded at T0
    assert response.status_code == 201, response.json
    assert response.json["late_entry"] is True
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    [flag] = client.get(FLAGS, query_string={"kind": "late_entry"}, headers=staff).json
    assert (flag["entity_type"], flag["entity_id"]) == (entity_type, response.json["id"])
    assert flag["detail"] == {"recorded_at": "2026-03-02T09:00:00+00:00"}
    assert flag["raised_at"] == "2026-03-04T10:00:00+00:00"
    assert flag["urgent"] is False


@pytest.mark.parametrize("url, fields", [(WALKS, {"method": "phone_gps", "distance_m": 400}), (PAIN, {"score": 4})])
def test_an_entry_sent_exactly_48_hours_later_is_not_late(
    client: FlaskClient,
    make: Factory,
    participant: Participant,
    clock: time_machine.Traveller,
    url: str,
    fields: dict[str, Any],
) -> None:
    clock.move_to(T0 + timedelta(hours=48))
    patient = make.patient_headers(participant)
    response = client.post(url, json=entry(**fields), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["late_entry"] is False
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    assert client.get(FLAGS, query_string={"kind": "late_entry"}, headers=staff).json == []


def test_the_queue_is_paginated(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], clock: time_machine.Traveller
) -> None:
    for minute in range(5):
        clock.move_to(T0 + timedelta(minutes=minute))
        report_symptom(client, patient, recorded_at=(T0 + timedelta(minutes=minute)).isoformat())
    every = flag_ids(client, staff)
    assert len(every) == 5

    first = client.get(FLAGS, query_string={"page": 1, "page_size": 2}, headers=staff)
    assert [f["id"] for f in first.json] == every[:2]
    assert json.loads(first.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 1,
        "next_page": 2,
    }
    last = client.get(FLAGS, query_string={"page": 3, "page_size": 2}, headers=staff)
    assert [f["id"] for f in last.json] == every[4:]
    assert json.loads(last.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 3,
        "previous_page": 2,
    }
    beyond = client.get(FLAGS, query_string={"page": 4, "page_size": 2}, headers=staff)
    assert beyond.status_code == 200 and beyond.json == []
