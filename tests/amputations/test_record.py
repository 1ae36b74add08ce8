"""Recording amputation events through the API: what is stored, major and minor by level,
idempotent replays, the date and status rules in the participant's time zone, and bad
input refused in the error envelope with nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent, AuditEvent
from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from tests.amputations.helpers import T0, event, events_url, refused, row_counts
from tests.factories import Factory


def test_nurse_records_an_event_audited_and_reads_it_back(
    client: FlaskClient, db: Session, staff: dict[str, str], nurse: StaffUser, participant: Participant
) -> None:
    body = event(note="after a failed femoro-popliteal bypass")
    response = client.post(events_url(participant.id), json=body, headers=staff)

    assert response.status_code == 201, response.json
    created = response.json
    assert created == {
        "id": created["id"],
        "participant_id": participant.id,
        "client_uuid": body["client_uuid"],
        "occurred_on": "2026-02-20",
        "leg": "right",
        "level": "transtibial",
        "note": "after a failed femoro-popliteal bypass",
        "major": True,
        "voided": False,
        "recorded_at": "2026-03-02T09:00:00+00:00",
        "recorded_by_id": nurse.id,
        "is_current": True,
        "superseded_at": None,
        "superseded_by_id": None,
        "corrects_id": None,
        "correction_reason": None,
    }
    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "amputation_event.create")).one()
    assert (audit.entity_type, audit.entity_id, audit.participant_id) == (
        "amputation_event",
        str(created["id"]),
        participant.id,
    )
    assert audit.actor_role == "nurse" and audit.before is None
    assert audit.after is not None and audit.after["level"] == "transtibial" and audit.after["major"] is True
    assert "request_fingerprint" not in audit.after

    listed = client.get(events_url(participant.id), headers=staff)
    assert listed.status_code == 200 and listed.json == [created]
    reads = db.scalars(select(AccessEvent).where(AccessEvent.resource == "amputation_events")).all()
    assert [(r.participant_id, r.actor_role) for r in reads] == [(participant.id, "nurse")]


# Major means above the ankle: transtibial and up. Syme (through the ankle joint) is minor.
MAJOR_BY_LEVEL = {
    "toe": False,
    "ray": False,
    "transmetatarsal": False,
    "lisfranc": False,
    "chopart": False,
    "syme": False,
    "transtibial": True,
    "knee_disarticulation": True,
    "transfemoral": True,
    "hip_disarticulation": True,
    "hemipelvectomy": True,
}


def test_major_is_above_the_ankle(client: FlaskClient, staff: dict[str, str], participant: Participant) -> None:
    stored = {}
    for level in MAJOR_BY_LEVEL:
        response = client.post(events_url(participant.id), json=event(level=level), headers=staff)
        assert response.status_code == 201, (level, response.json)
        stored[response.json["level"]] = response.json["major"]
    assert stored == MAJOR_BY_LEVEL


def test_list_is_newest_first_and_filters_by_date(
    client: FlaskClient, staff: dict[str, str], participant: Participant
) -> None:
    url = events_url(participant.id)
    for day, level in (("2026-02-01", "toe"), ("2026-02-20", "transtibial"), ("2026-02-10", "ray")):
        assert client.post(url, json=event(occurred_on=day, level=level), headers=staff).status_code == 201
    listed = client.get(url, headers=staff).json
    assert [(e["occurred_on"], e["level"]) for e in listed] == [
        ("2026-02-20", "transtibial"),
        ("2026-02-10", "ray"),
        ("2026-02-01", "toe"),
    ]
    window = client.get(url, query_string={"from": "2026-02-05", "to": "2026-02-15"}, headers=staff).json
    assert [e["occurred_on"] for e in window] == ["2026-02-10"]


def test_replay_returns_the_original_and_a_reused_uuid_is_refused(
    client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant
) -> None:
    body = event()
    first = client.post(events_url(participant.id), json=body, headers=staff)
    assert first.status_code == 201
    counts = row_counts(db)

    replay = client.post(events_url(participant.id), json=body, headers=staff)
    assert replay.status_code == 200 and replay.json == first.json

    reused = client.post(events_url(participant.id), json={**body, "level": "transfemoral"}, headers=staff)
    assert "client_uuid" in refused(reused, 422, "validation_failed")
    assert row_counts(db) == counts


def test_the_same_event_twice_is_a_conflict(
    client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant
) -> None:
    assert client.post(events_url(participant.id), json=event(), headers=staff).status_code == 201
    counts = row_counts(db)
    again = client.post(events_url(participant.id), json=event(), headers=staff)  # a new client_uuid
    refused(again, 409, "conflict")
    assert row_counts(db) == counts
    other_leg = client.post(events_url(participant.id), json=event(leg="left"), headers=staff)
    assert other_leg.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"level": "knee"}, "level", "unprocessable_entity"),
        ({"leg": "both"}, "leg", "unprocessable_entity"),
        ({"occurred_on": "2026-03-03"}, "occurred_on", "validation_failed"),  # tomorrow in Tehran
        ({"occurred_on": "2026-01-09"}, "occurred_on", "validation_failed"),  # the day before consent
        ({"occurred_on": "20.02.2026"}, "occurred_on", "unprocessable_entity"),
        ({"surgeon": "Dr. Example"}, "surgeon", "unprocessable_entity"),
        ({"note": "x" * 1001}, "note", "unprocessable_entity"),
        ({"major": False}, "major", "unprocessable_entity"),  # derived, never sent
        ({"level": None}, "level", "unprocessable_entity"),
    ],
)
def test_bad_input_is_refused_by_name_and_writes_nothing(
    client: FlaskClient,
    db: Session,
    staff: dict[str, str],
    participant: Participant,
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    counts = row_counts(db)
    response = client.post(events_url(participant.id), json=event(**overrides), headers=staff)
    assert field in refused(response, 422, code)
    assert row_counts(db) == counts
    assert client.get(events_url(participant.id), headers=staff).json == []


def test_missing_fields_are_named(client: FlaskClient, staff: dict[str, str], participant: Participant) -> None:
    response = client.post(events_url(participant.id), json={}, headers=staff)
    assert set(refused(response, 422, "unprocessable_entity")) == {"client_uuid", "occurred_on", "leg", "level"}


def test_date_bounds_are_inclusive(client: FlaskClient, staff: dict[str, str], participant: Participant) -> None:
    url = events_url(participant.id)
    today = client.post(url, json=event(occurred_on="2026-03-02", level="toe"), headers=staff)
    consent_day = client.post(url, json=event(occurred_on="2026-01-10", level="ray"), headers=staff)
    assert today.status_code == consent_day.status_code == 201


def test_today_is_the_participants_local_date(
    client: FlaskClient, make: Factory, db: Session, nurse: StaffUser, clock: time_machine.Traveller
) -> None:
    # 21:00 UTC on 2 March is 00:30 on 3 March in Tehran and 16:00 on 2 March in New York.
    clock.move_to(datetime(2026, 3, 2, 21, 0, tzinfo=UTC))
    staff = make.staff_headers(nurse)  # signed in after the move: access tokens last 15 minutes
    tehran = _enrolled(make, db, timezone="Asia/Tehran")
    new_york = _enrolled(make, db, timezone="America/New_York")
    body = {"occurred_on": "2026-03-03", "level": "toe"}
    assert client.post(events_url(tehran.id), json=event(**body), headers=staff).status_code == 201
    later = client.post(events_url(new_york.id), json=event(**body), headers=staff)
    assert "occurred_on" in refused(later, 422, "validation_failed")


def _enrolled(make: Factory, db: Session, **overrides: Any) -> Participant:
    participant = make.participant(**overrides)
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", T0 - timedelta(days=1))


def test_never_enrolled_participants_are_refused(
    client: FlaskClient, make: Factory, db: Session, staff: dict[str, str], clock: time_machine.Traveller
) -> None:
    screening = make.participant()
    screen_failure = make.participant()
    change_status(db, Actor.system("test", study_id=screen_failure.study_id), screen_failure.id, "withdraw", "x", T0)
    counts = row_counts(db)
    for never_enrolled in (screening, screen_failure):
        response = client.post(events_url(never_enrolled.id), json=event(), headers=staff)
        assert "_schema" in refused(response, 422, "validation_failed")
        assert "never enrolled" in response.json["message"]
    assert row_counts(db) == counts


def test_withdrawn_and_completed_participants_keep_their_follow_up(
    client: FlaskClient, make: Factory, db: Session, staff: dict[str, str], clock: time_machine.Traveller
) -> None:
    system = Actor.system("test")
    withdrawn = _enrolled(make, db)
    change_status(db, system, withdrawn.id, "withdraw", "moved away", T0)
    completed = _enrolled(make, db)
    change_status(db, system, completed.id, "complete", "follow-up done", T0)
    for participant in (withdrawn, completed):
        assert client.post(events_url(participant.id), json=event(), headers=staff).status_code == 201


def test_who_may_record_and_read(
    client: FlaskClient, make: Factory, staff: dict[str, str], participant: Participant
) -> None:
    url = events_url(participant.id)
    monitor = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    patient = make.patient_headers(participant)
    refused(client.post(url, json=event(), headers=monitor), 403, "forbidden")
    refused(client.post(url, json=event(), headers=patient), 403, "forbidden")
    refused(client.post(url, json=event(), headers=other_site), 404, "not_found")
    refused(client.get(url, headers=other_site), 404, "not_found")
    refused(client.post(url, json=event()), 401, "unauthenticated")
    assert client.get(url, headers=monitor).status_code == 200


def test_the_database_refuses_a_major_flag_that_disagrees_with_the_level(
    client: FlaskClient, connection: Connection, staff: dict[str, str], participant: Participant
) -> None:
    created = client.post(events_url(participant.id), json=event(level="syme"), headers=staff).json
    savepoint = connection.begin_nested()
    with pytest.raises(IntegrityError):
        connection.execute(
            text("UPDATE amputation_event SET major = :major WHERE id = :id"), {"major": True, "id": created["id"]}
        )
    savepoint.rollback()
    assert client.get(events_url(participant.id), headers=staff).json[0]["major"] is False
