"""Corrections and voids of amputation events: new versions with a reason, the original
kept and readable, major re-derived, the same rules as a new event, and nothing written
by a refused correction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.amputations.helpers import correction, corrections_url, event, events_url, refused, row_counts
from tests.factories import Factory

LATER = datetime(2026, 3, 2, 9, 10, tzinfo=UTC)  # ten minutes after T0: the token still works


def _recorded(client: FlaskClient, staff: dict[str, str], participant: Participant, **overrides: Any) -> Any:
    response = client.post(events_url(participant.id), json=event(**overrides), headers=staff)
    assert response.status_code == 201, response.json
    return response.json


def test_a_correction_is_a_new_version_and_the_original_stays(
    client: FlaskClient,
    db: Session,
    staff: dict[str, str],
    nurse: StaffUser,
    participant: Participant,
    clock: time_machine.Traveller,
) -> None:
    original = _recorded(client, staff, participant, level="syme", note="ankle")
    assert original["major"] is False
    clock.move_to(LATER)
    body = correction(level="transtibial", reason="the operative note says below knee")
    response = client.post(corrections_url(participant.id, original["id"]), json=body, headers=staff)

    assert response.status_code == 201, response.json
    corrected = response.json
    assert corrected["id"] != original["id"]
    assert corrected["corrects_id"] == original["id"]
    assert corrected["correction_reason"] == "the operative note says below knee"
    assert (corrected["level"], corrected["major"]) == ("transtibial", True)
    # What was not sent is carried over; who and when are this version's.
    assert (corrected["occurred_on"], corrected["leg"], corrected["note"]) == ("2026-02-20", "right", "ankle")
    assert corrected["recorded_at"] == "2026-03-02T09:10:00+00:00"
    assert corrected["recorded_by_id"] == nurse.id
    assert corrected["client_uuid"] == body["client_uuid"]

    current = client.get(events_url(participant.id), headers=staff).json
    assert [e["id"] for e in current] == [corrected["id"]]
    history = client.get(events_url(participant.id), query_string={"include_superseded": "true"}, headers=staff).json
    old = next(e for e in history if e["id"] == original["id"])
    assert {e["id"] for e in history} == {original["id"], corrected["id"]}
    assert old["is_current"] is False
    assert old["superseded_at"] == "2026-03-02T09:10:00+00:00"
    assert old["superseded_by_id"] == corrected["id"]
    assert (old["level"], old["major"], old["recorded_at"]) == ("syme", False, "2026-03-02T09:00:00+00:00")

    audit = db.scalars(select(AuditEvent).where(AuditEvent.action == "amputation_event.correct")).one()
    assert audit.reason == "the operative note says below knee"
    assert audit.entity_id == str(corrected["id"])
    assert audit.before is not None and audit.before["level"] == "syme" and audit.before["id"] == original["id"]
    assert audit.after is not None and audit.after["level"] == "transtibial" and audit.after["major"] is True


def test_a_correction_replays_and_a_superseded_version_cannot_be_corrected(
    client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant
) -> None:
    original = _recorded(client, staff, participant)
    url = corrections_url(participant.id, original["id"])
    body = correction(leg="left")
    first = client.post(url, json=body, headers=staff)
    assert first.status_code == 201
    counts = row_counts(db)
    replay = client.post(url, json=body, headers=staff)
    assert replay.status_code == 200 and replay.json == first.json
    stale = client.post(url, json=correction(level="transfemoral"), headers=staff)
    refused(stale, 409, "conflict")
    assert row_counts(db) == counts


def test_void_and_restore(client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant) -> None:
    original = _recorded(client, staff, participant)
    void = client.post(
        corrections_url(participant.id, original["id"]),
        json=correction(voided=True, reason="entered on the wrong participant"),
        headers=staff,
    )
    assert void.status_code == 201, void.json
    assert void.json["voided"] is True and void.json["corrects_id"] == original["id"]
    assert (void.json["level"], void.json["major"]) == ("transtibial", True)  # what was voided stays legible
    listed = client.get(events_url(participant.id), headers=staff).json
    assert [(e["id"], e["voided"]) for e in listed] == [(void.json["id"], True)]

    # A voided event no longer blocks recording the same event again ...
    again = client.post(events_url(participant.id), json=event(), headers=staff)
    assert again.status_code == 201
    # ... and restoring the void would now count it twice.
    restore = client.post(
        corrections_url(participant.id, void.json["id"]), json=correction(voided=False), headers=staff
    )
    refused(restore, 409, "conflict")
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.reason == "entered on the wrong participant"))


def test_a_void_is_possible_whatever_changed_since(
    client: FlaskClient, staff: dict[str, str], make: Factory, participant: Participant
) -> None:
    original = _recorded(client, staff, participant, occurred_on="2026-01-15")
    patch = client.patch(
        f"/api/v1/participants/{participant.id}",
        json={"consent_date": "2026-02-01", "reason": "consent form re-dated"},
        headers=staff,
    )
    assert patch.status_code == 200, patch.json
    url = corrections_url(participant.id, original["id"])
    note_only = client.post(url, json=correction(note="checked"), headers=staff)
    assert "occurred_on" in refused(note_only, 422, "validation_failed")  # now before consent
    void = client.post(url, json=correction(voided=True), headers=staff)
    assert void.status_code == 201


def test_bad_corrections_are_refused_and_write_nothing(
    client: FlaskClient, db: Session, staff: dict[str, str], participant: Participant
) -> None:
    original = _recorded(client, staff, participant)
    url = corrections_url(participant.id, original["id"])
    counts = row_counts(db)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"client_uuid": correction()["client_uuid"], "level": "transfemoral"}, "reason", "unprocessable_entity"),
        (correction(reason="  "), "reason", "unprocessable_entity"),
        (correction(level="knee"), "level", "unprocessable_entity"),
        (correction(leg="both"), "leg", "unprocessable_entity"),
        (correction(voided="yes"), "voided", "unprocessable_entity"),
        (correction(major=False), "major", "unprocessable_entity"),
        (correction(occurred_on="2026-03-03"), "occurred_on", "validation_failed"),
        (correction(occurred_on="2026-01-09"), "occurred_on", "validation_failed"),
    ]
    for body, field, code in cases:
        assert field in refused(client.post(url, json=body, headers=staff), 422, code), body
    assert row_counts(db) == counts


def test_an_event_of_another_participant_is_not_found(
    client: FlaskClient, make: Factory, staff: dict[str, str], participant: Participant
) -> None:
    original = _recorded(client, staff, participant)
    other = make.participant()
    response = client.post(corrections_url(other.id, original["id"]), json=correction(leg="left"), headers=staff)
    refused(response, 404, "not_found")
    monitor = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    url = corrections_url(participant.id, original["id"])
    refused(client.post(url, json=correction(leg="left"), headers=monitor), 403, "forbidden")


def test_the_same_correction_sent_to_another_event_is_refused_not_answered_as_a_replay(
    client: FlaskClient, staff: dict[str, str], participant: Participant
) -> None:
    """A void retried against the wrong row must not be told it worked: the second event
    stays current and the answer names the reused client_uuid."""
    first = _recorded(client, staff, participant, level="toe")
    second = _recorded(client, staff, participant, level="ray")
    void = correction(voided=True, reason="entered on the wrong participant")
    assert client.post(corrections_url(participant.id, first["id"]), json=void, headers=staff).status_code == 201

    response = client.post(corrections_url(participant.id, second["id"]), json=void, headers=staff)

    assert "client_uuid" in refused(response, 422, "validation_failed")
    current = client.get(events_url(participant.id), headers=staff).json
    assert [(e["id"], e["voided"]) for e in current if e["level"] == "ray"] == [(second["id"], False)]
