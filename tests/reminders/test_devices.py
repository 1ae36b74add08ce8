"""Push devices through the API: registering and refreshing an FCM token, a token handed
to another participant or replaced by the same app, removal, the staff's truncated view,
refused input that writes nothing, an audit trail without the token, and stale tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.audit.models import AuditEvent
from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.reminders.models import PushDevice
from backend.reminders.service import register_device, retire_stale_devices
from tests.factories import Factory
from tests.reminders.helpers import T0

OWN = "/api/v1/me/devices"
TOKEN = "fcm-token-aaaa-0001-abcdefghijklmnop"  # 35 characters, all allowed
OTHER_TOKEN = "fcm-token-bbbb-0002-qrstuvwxyz012345"


def staff_devices(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/devices"


def body(**overrides: Any) -> dict[str, Any]:
    """A valid registration of TOKEN; override any field."""
    data: dict[str, Any] = {"fcm_token": TOKEN, "platform": "android", "app_version": "1.4.0", "locale": "fa-IR"}
    data.update(overrides)
    return data


def row_counts(db: Session) -> dict[str, int]:
    """How many push devices and audit events exist (to prove a refusal wrote nothing)."""
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0 for model in (PushDevice, AuditEvent)
    }


def field_errors(response: TestResponse) -> dict[str, Any]:
    """The per-field errors of a 422 schema refusal of the request body."""
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    payload = response.json
    assert payload["code"] == "unprocessable_entity"
    assert payload["status"] == 422
    assert payload["request_id"] == response.headers["X-Request-ID"]
    return payload["errors"]["json"]  # type: ignore[no-any-return]


def device_row(db: Session, device_id: int) -> PushDevice:
    db.expire_all()  # the API wrote through its own session
    device = db.get(PushDevice, device_id)
    assert device is not None
    return device


def as_patient(participant: Participant) -> Actor:
    return Actor(
        kind="participant",
        id=participant.id,
        role="patient",
        study_id=participant.study_id,
        site_ids=frozenset({participant.site_id}),
        participant_id=participant.id,
    )


@pytest.fixture
def participant(enrolled: Callable[..., Participant]) -> Participant:
    return enrolled()


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    """Authorization headers of the participant's (one) app install."""
    return make.patient_headers(participant)


# --- register and refresh -----------------------------------------------------------------


def test_registering_returns_the_device_with_a_token_preview_only(
    client: FlaskClient, patient: dict[str, str], participant: Participant, db: Session
) -> None:
    response = client.post(OWN, json=body(), headers=patient)

    assert response.status_code == 201, response.json
    created = response.json
    assert created["token_preview"] == "fcm-toke…"
    assert created["platform"] == "android"
    assert created["app_version"] == "1.4.0"
    assert created["locale"] == "fa-IR"
    assert created["registered_at"] == created["refreshed_at"] == "2026-03-05T06:30:00+00:00"
    assert created["retired_at"] is None and created["retired_reason"] is None
    assert "fcm_token" not in created
    assert TOKEN not in response.get_data(as_text=True)
    assert client.get(OWN, headers=patient).json == [created]
    row = device_row(db, created["id"])
    assert (row.participant_id, row.fcm_token) == (participant.id, TOKEN)


def test_registering_the_same_token_again_refreshes_the_same_row(
    client: FlaskClient, patient: dict[str, str], clock: time_machine.Traveller, db: Session
) -> None:
    created = client.post(OWN, json=body(), headers=patient).json
    clock.move_to(T0 + timedelta(minutes=10))  # inside the access token's 15 minutes

    response = client.post(OWN, json=body(app_version="1.5.0", locale="en-GB", platform="ios"), headers=patient)

    assert response.status_code == 200, response.json
    refreshed = response.json
    assert refreshed["id"] == created["id"]
    assert refreshed["registered_at"] == "2026-03-05T06:30:00+00:00"
    assert refreshed["refreshed_at"] == "2026-03-05T06:40:00+00:00"
    assert (refreshed["app_version"], refreshed["locale"], refreshed["platform"]) == ("1.5.0", "en-GB", "ios")
    assert client.get(OWN, headers=patient).json == [refreshed]
    assert db.scalar(select(func.count()).select_from(PushDevice)) == 1


def test_a_token_registered_by_another_participant_is_reassigned_not_shared(
    client: FlaskClient,
    make: Factory,
    enrolled: Callable[..., Participant],
    participant: Participant,
    patient: dict[str, str],
    db: Session,
) -> None:
    first = client.post(OWN, json=body(), headers=patient).json
    second_participant = enrolled()
    second_patient = make.patient_headers(second_participant)

    response = client.post(OWN, json=body(), headers=second_patient)

    assert response.status_code == 201, response.json
    second = response.json
    assert second["id"] != first["id"]
    assert client.get(OWN, headers=patient).json == []
    assert [d["id"] for d in client.get(OWN, headers=second_patient).json] == [second["id"]]
    old = device_row(db, first["id"])
    assert (old.participant_id, old.retired_reason, old.retired_at) == (participant.id, "reassigned", T0)
    new = device_row(db, second["id"])
    assert (new.participant_id, new.retired_at) == (second_participant.id, None)
    active = db.scalars(select(PushDevice).where(PushDevice.fcm_token == TOKEN, PushDevice.retired_at.is_(None)))
    assert [d.id for d in active] == [second["id"]]


def test_a_new_token_from_the_same_app_replaces_the_old_one(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    old = client.post(OWN, json=body(), headers=patient).json

    response = client.post(OWN, json=body(fcm_token=OTHER_TOKEN), headers=patient)

    assert response.status_code == 201, response.json
    new = response.json
    assert new["id"] != old["id"]
    assert new["token_preview"] == "fcm-toke…"
    assert client.get(OWN, headers=patient).json == [new]
    retired = device_row(db, old["id"])
    assert (retired.retired_reason, retired.retired_at) == ("replaced", T0)


def test_two_app_installs_of_one_participant_keep_their_own_tokens(
    client: FlaskClient, make: Factory, participant: Participant, patient: dict[str, str]
) -> None:
    # A second activation is another phone: its token does not replace the first phone's.
    tablet = make.patient_headers(participant)
    first = client.post(OWN, json=body(), headers=patient).json
    second = client.post(OWN, json=body(fcm_token=OTHER_TOKEN), headers=tablet).json

    assert [d["id"] for d in client.get(OWN, headers=patient).json] == [first["id"], second["id"]]


# --- removal ------------------------------------------------------------------------------


def test_deleting_a_device_retires_it_and_a_second_delete_is_not_found(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    device = client.post(OWN, json=body(), headers=patient).json

    response = client.delete(f"{OWN}/{device['id']}", headers=patient)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert client.get(OWN, headers=patient).json == []
    row = device_row(db, device["id"])
    assert (row.retired_reason, row.retired_at) == ("removed", T0)
    again = client.delete(f"{OWN}/{device['id']}", headers=patient)
    assert again.status_code == 404
    assert again.json["code"] == "not_found"


def test_another_participants_device_is_not_found_and_untouched(
    client: FlaskClient,
    make: Factory,
    enrolled: Callable[..., Participant],
    patient: dict[str, str],
    db: Session,
) -> None:
    other_patient = make.patient_headers(enrolled())
    theirs = client.post(OWN, json=body(), headers=other_patient).json

    response = client.delete(f"{OWN}/{theirs['id']}", headers=patient)

    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    assert client.get(OWN, headers=other_patient).json == [theirs]
    assert device_row(db, theirs["id"]).retired_at is None


def test_deleting_an_unknown_device_is_not_found(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.delete(f"{OWN}/999999", headers=patient)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


# --- the staff view -----------------------------------------------------------------------


def test_staff_see_active_and_retired_devices_with_the_token_truncated(
    client: FlaskClient, make: Factory, participant: Participant, patient: dict[str, str]
) -> None:
    replaced = client.post(OWN, json=body(), headers=patient).json
    current = client.post(OWN, json=body(fcm_token=OTHER_TOKEN, platform="ios"), headers=patient).json
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))

    response = client.get(staff_devices(participant.id), headers=staff)

    assert response.status_code == 200, response.json
    listed = response.json
    assert [d["id"] for d in listed] == [current["id"], replaced["id"]]  # newest first
    by_id = {d["id"]: d for d in listed}
    assert by_id[current["id"]]["retired_reason"] is None
    assert by_id[replaced["id"]]["retired_reason"] == "replaced"
    assert by_id[replaced["id"]]["retired_at"] == "2026-03-05T06:30:00+00:00"
    assert {d["token_preview"] for d in listed} == {"fcm-toke…"}
    text = response.get_data(as_text=True)
    assert TOKEN not in text and OTHER_TOKEN not in text


# --- refused input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("fcm_token", {"fcm_token": "short-token"}),
        ("fcm_token", {"fcm_token": "a token with spaces in it 0123456789"}),
        ("platform", {"platform": "windows"}),
        ("app_version", {"app_version": None}),
        ("locale", {"locale": "english!"}),
        ("colour", {"colour": "blue"}),
    ],
    ids=["token-too-short", "token-with-spaces", "platform-windows", "app-version-null", "locale-bad", "unknown-field"],
)
def test_bad_input_is_refused_by_name_and_writes_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str, overrides: dict[str, Any]
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=body(**overrides), headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before


def test_a_missing_app_version_is_refused_and_writes_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    before = row_counts(db)
    data = body()
    del data["app_version"]
    response = client.post(OWN, json=data, headers=patient)
    assert list(field_errors(response)) == ["app_version"]
    assert row_counts(db) == before


@pytest.mark.parametrize("field", ["fcm_token", "locale", "app_version"])
def test_a_value_with_a_trailing_newline_is_refused(
    client: FlaskClient, patient: dict[str, str], db: Session, field: str
) -> None:
    before = row_counts(db)
    response = client.post(OWN, json=body(**{field: body()[field] + "\n"}), headers=patient)
    assert field in field_errors(response)
    assert row_counts(db) == before


# --- the audit trail ----------------------------------------------------------------------


def test_registration_refresh_and_retirement_are_audited_without_the_token(
    client: FlaskClient, patient: dict[str, str], participant: Participant, db: Session
) -> None:
    first = client.post(OWN, json=body(), headers=patient).json
    client.post(OWN, json=body(app_version="1.4.1"), headers=patient)  # a refresh
    second = client.post(OWN, json=body(fcm_token=OTHER_TOKEN), headers=patient).json  # replaces the first

    events = list(db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "push_device").order_by(AuditEvent.id)))
    assert [(e.action, e.entity_id) for e in events] == [
        ("push_device.register", str(first["id"])),
        ("push_device.refresh", str(first["id"])),
        ("push_device.retire", str(first["id"])),
        ("push_device.register", str(second["id"])),
    ]
    register = events[0]
    assert register.before is None
    assert register.after is not None
    assert register.after["participant_id"] == participant.id
    assert register.after["app_version"] == "1.4.0"
    assert (register.actor_type, register.participant_id) == ("participant", participant.id)
    assert events[1].before is not None and events[1].before["app_version"] == "1.4.0"
    assert events[1].after is not None and events[1].after["app_version"] == "1.4.1"
    assert events[2].reason == "replaced"
    for event in events:
        for snapshot in (event.before, event.after):
            assert "fcm_token" not in (snapshot or {})
        dump = f"{event.before} {event.after} {event.reason}"
        assert TOKEN not in dump and OTHER_TOKEN not in dump


# --- stale tokens -------------------------------------------------------------------------


@pytest.fixture
def aged(db: Session, participant: Participant) -> tuple[PushDevice, PushDevice]:
    """Two phones of the participant: one last refreshed at T0, one a day later."""
    old, _ = register_device(db, as_patient(participant), body(), T0)
    newer, _ = register_device(db, as_patient(participant), body(fcm_token=OTHER_TOKEN), T0 + timedelta(days=1))
    return old, newer


def test_a_device_not_refreshed_for_270_days_is_retired_as_stale(
    db: Session, clock: time_machine.Traveller, aged: tuple[PushDevice, PushDevice]
) -> None:
    old, newer = aged
    now = T0 + timedelta(days=270)
    clock.move_to(now)

    assert retire_stale_devices(db, now) == 1

    db.expire_all()
    assert (old.retired_reason, old.retired_at) == ("stale", now)
    assert (newer.retired_reason, newer.retired_at) == (None, None)  # 269 days: still fine
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "push_device.retire"))
    assert (event.entity_id, event.actor_id, event.reason) == (str(old.id), "flask jobs run stale-devices", "stale")
    assert retire_stale_devices(db, now) == 0  # a re-run is harmless


def test_the_stale_devices_job_retires_them_from_the_cli(
    app: Flask,
    db: Session,
    client: FlaskClient,
    make: Factory,
    participant: Participant,
    clock: time_machine.Traveller,
    aged: tuple[PushDevice, PushDevice],
) -> None:
    old, newer = aged
    now = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)  # T0 + 270 days
    assert now == T0 + timedelta(days=270)
    clock.move_to(now)

    result = app.test_cli_runner().invoke(args=["jobs", "run", "stale-devices"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "stale-devices: 1 devices retired"
    db.expire_all()
    assert (old.retired_reason, old.retired_at) == ("stale", now)
    assert newer.retired_at is None
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))  # signed in at the new time
    listed = client.get(staff_devices(participant.id), headers=staff).json
    assert [(d["id"], d["retired_reason"]) for d in listed] == [(newer.id, None), (old.id, "stale")]
