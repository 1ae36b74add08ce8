"""Reminder settings through the API (protocol defaults, the patient's own choices, refusals
that change nothing, the audit trail) and the staff's reminder history: what was sent,
skipped and why, what is coming, the date range rules, and the logged read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.audit.models import AccessEvent, AuditEvent
from backend.participants.models import Participant
from backend.reminders.dispatch import dispatch_due_reminders
from backend.reminders.models import PushDevice, ReminderSettings
from backend.reminders.senders import LogSender
from tests.factories import Factory
from tests.reminders.helpers import T0

SETTINGS = "/api/v1/me/reminder-settings"
# 20:00 in Tehran on Thursday 2026-03-05: the protocol's diary reminder time.
EVENING = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)
KINDS = ["injection_day", "visit_tomorrow", "rest_pain_diary", "ulcer_photo", "six_minute_walk"]
DEFAULTS = {
    "diary_time": "20:00",
    "quiet_hours": {"start": "22:00", "end": "08:00"},
    "opted_out": [],
    "kinds": KINDS,
    "max_per_day": 3,
    "follow_up_after_minutes": 90,
}
OWN_CHOICES = {
    "diary_time": "19:15",
    "quiet_hours": {"start": "23:00", "end": "07:00"},
    "opted_out": ["six_minute_walk"],
}
RESET = {"diary_time": None, "opted_out": []}  # quiet hours left out: the study's
# Today's and tomorrow's diary reminders in Tehran (+03:30): 20:00 local, open until 10:00 next day.
DIARY_TODAY = {
    "kind": "rest_pain_diary",
    "local_date": "2026-03-05",
    "due_at": "2026-03-05T16:30:00+00:00",
    "expires_at": "2026-03-06T06:30:00+00:00",
    "opted_out": False,
}
DIARY_TOMORROW = {
    "kind": "rest_pain_diary",
    "local_date": "2026-03-06",
    "due_at": "2026-03-06T16:30:00+00:00",
    "expires_at": "2026-03-07T06:30:00+00:00",
    "opted_out": False,
}


def history(participant_id: int, **query: str) -> str:
    url = f"/api/v1/participants/{participant_id}/reminders"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def errors_of(response: TestResponse, code: str) -> dict[str, Any]:
    """The per-location errors of a 422 with `code`, after checking the envelope."""
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    payload = response.json
    assert set(payload) == {"code", "status", "message", "errors", "request_id"}
    assert (payload["code"], payload["status"]) == (code, 422)
    assert payload["request_id"] == response.headers["X-Request-ID"]
    return payload["errors"]  # type: ignore[no-any-return]


def settings_events(db: Session) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == "reminder_settings.update").order_by(AuditEvent.id))
    )


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def participant(enrolled: Callable[..., Participant]) -> Participant:
    return enrolled()


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    return make.patient_headers(participant)


# --- settings -----------------------------------------------------------------------------


def test_without_own_settings_the_protocol_defaults_apply(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.get(SETTINGS, headers=patient)
    assert response.status_code == 200, response.json
    assert response.json == DEFAULTS


def test_own_settings_are_kept_audited_and_reset_by_nulls(
    client: FlaskClient, patient: dict[str, str], participant: Participant, db: Session
) -> None:
    response = client.put(SETTINGS, json=OWN_CHOICES, headers=patient)

    assert response.status_code == 200, response.json
    expected = DEFAULTS | OWN_CHOICES
    assert response.json == expected
    assert client.get(SETTINGS, headers=patient).json == expected
    [event] = settings_events(db)
    assert (event.actor_type, event.participant_id, event.entity_type) == (
        "participant",
        participant.id,
        "reminder_settings",
    )
    assert event.before is None
    assert event.after == {
        "participant_id": participant.id,
        "diary_time": "19:15:00",
        "quiet_start": "23:00:00",
        "quiet_end": "07:00:00",
        "opted_out": ["six_minute_walk"],
        "updated_at": "2026-03-05T06:30:00+00:00",
    }

    reset = client.put(SETTINGS, json=RESET, headers=patient)

    assert reset.status_code == 200, reset.json
    assert reset.json == DEFAULTS
    assert client.get(SETTINGS, headers=patient).json == DEFAULTS
    _, second = settings_events(db)
    assert second.before == event.after
    assert second.after is not None
    assert (second.after["diary_time"], second.after["quiet_start"], second.after["opted_out"]) == (None, None, [])


def test_opt_outs_are_deduplicated_and_sorted(client: FlaskClient, patient: dict[str, str]) -> None:
    choices = RESET | {"opted_out": ["ulcer_photo", "rest_pain_diary", "ulcer_photo"]}
    response = client.put(SETTINGS, json=choices, headers=patient)
    assert response.status_code == 200, response.json
    assert response.json["opted_out"] == ["rest_pain_diary", "ulcer_photo"]


@pytest.mark.parametrize(
    "choices",
    [
        {"diary_time": "23:30"},  # the default quiet hours, 22:00-08:00
        {"diary_time": "22:00"},  # the start is quiet
        {"diary_time": "03:00", "quiet_hours": {"start": "23:00", "end": "07:00"}},
        {"diary_time": None, "quiet_hours": {"start": "19:00", "end": "21:00"}},  # the default 20:00
    ],
    ids=["late-evening", "at-quiet-start", "after-midnight", "default-time-now-quiet"],
)
def test_a_reminder_time_in_the_quiet_hours_is_refused_and_changes_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session, choices: dict[str, Any]
) -> None:
    client.put(SETTINGS, json=OWN_CHOICES, headers=patient)
    events = len(settings_events(db))

    response = client.put(SETTINGS, json={"opted_out": []} | choices, headers=patient)

    assert list(errors_of(response, "validation_failed")["json"]) == ["diary_time"]
    assert client.get(SETTINGS, headers=patient).json == DEFAULTS | OWN_CHOICES
    assert len(settings_events(db)) == events


def test_a_first_refused_put_leaves_no_settings_row(
    client: FlaskClient, patient: dict[str, str], participant: Participant, db: Session
) -> None:
    response = client.put(SETTINGS, json=RESET | {"diary_time": "23:30"}, headers=patient)
    assert "diary_time" in errors_of(response, "validation_failed")["json"]
    db.expire_all()
    assert db.get(ReminderSettings, participant.id) is None
    assert settings_events(db) == []


def test_the_end_of_the_quiet_hours_is_not_quiet(client: FlaskClient, patient: dict[str, str]) -> None:
    response = client.put(SETTINGS, json=RESET | {"diary_time": "08:00"}, headers=patient)
    assert response.status_code == 200, response.json
    assert response.json["diary_time"] == "08:00"


@pytest.mark.parametrize("value", ["24:00", "7:00", "20:00:00", 2000, "20:60", "", "20h00"])
def test_a_malformed_reminder_time_is_refused(
    client: FlaskClient, patient: dict[str, str], db: Session, value: object
) -> None:
    response = client.put(SETTINGS, json=RESET | {"diary_time": value}, headers=patient)
    assert list(errors_of(response, "unprocessable_entity")["json"]) == ["diary_time"]
    assert count(db, ReminderSettings) == 0


@pytest.mark.parametrize("value", ["24:00", "7:00", 2000])
def test_malformed_quiet_hours_are_refused(
    client: FlaskClient, patient: dict[str, str], db: Session, value: object
) -> None:
    response = client.put(SETTINGS, json=RESET | {"quiet_hours": {"start": value, "end": "07:00"}}, headers=patient)
    errors = errors_of(response, "unprocessable_entity")["json"]
    assert list(errors) == ["quiet_hours"]
    assert "start" in errors["quiet_hours"]
    assert count(db, ReminderSettings) == 0


@pytest.mark.parametrize("kinds", [["symptom_check"], ["diary"], [None]])
def test_an_unknown_reminder_kind_cannot_be_opted_out_of(
    client: FlaskClient, patient: dict[str, str], db: Session, kinds: list[Any]
) -> None:
    response = client.put(SETTINGS, json=RESET | {"opted_out": kinds}, headers=patient)
    assert list(errors_of(response, "unprocessable_entity")["json"]) == ["opted_out"]
    assert count(db, ReminderSettings) == 0


def test_a_put_must_say_the_time_and_the_opt_outs(client: FlaskClient, patient: dict[str, str]) -> None:
    """Quiet hours may be left out (the study's); null is not a way to say so."""
    response = client.put(SETTINGS, json={}, headers=patient)
    assert set(errors_of(response, "unprocessable_entity")["json"]) == {"diary_time", "opted_out"}
    response = client.put(SETTINGS, json=RESET | {"quiet_hours": None}, headers=patient)
    assert set(errors_of(response, "unprocessable_entity")["json"]) == {"quiet_hours"}


# --- the staff history --------------------------------------------------------------------


@pytest.fixture
def nurse_at_evening(make: Factory, clock: time_machine.Traveller) -> Callable[[], dict[str, str]]:
    """Move the clock to EVENING and sign a TEH-01 nurse in then (earlier tokens have expired)."""

    def sign_in() -> dict[str, str]:
        clock.move_to(EVENING)
        return make.staff_headers(make.staff("nurse", sites=("TEH-01",)))

    return sign_in


def test_a_sent_reminder_is_listed_with_its_delivery(
    client: FlaskClient,
    db: Session,
    participant: Participant,
    phone: Callable[..., PushDevice],
    nurse_at_evening: Callable[[], dict[str, str]],
) -> None:
    device = phone(participant, token="tok-history-0001-abcdefgh")
    staff = nurse_at_evening()
    report = dispatch_due_reminders(db, LogSender(), EVENING)
    assert report.sent == 1

    response = client.get(history(participant.id), headers=staff)

    assert response.status_code == 200, response.json
    result = response.json
    assert result["participant_id"] == participant.id
    assert (result["from_date"], result["to_date"]) == ("2026-02-20", "2026-03-05")  # 14 local days
    assert result["settings"] == DEFAULTS
    assert result["upcoming"] == [DIARY_TOMORROW]
    [reminder] = result["reminders"]
    [delivery] = reminder.pop("deliveries")
    assert reminder == {
        "id": reminder["id"],
        "kind": "rest_pain_diary",
        "local_date": "2026-03-05",
        "attempt": 0,
        "due_at": "2026-03-05T16:30:00+00:00",
        "expires_at": "2026-03-06T06:30:00+00:00",
        "status": "sent",
        "reason": None,
        "tries": 1,
        "sent_at": "2026-03-05T16:30:00+00:00",
    }
    assert delivery["message_id"].startswith("log/")
    assert delivery == {
        "attempted_at": "2026-03-05T16:30:00+00:00",
        "sender": "log",
        "outcome": "sent",
        "message_id": delivery["message_id"],
        "error_code": None,
        "error_message": None,
        "retry_after_seconds": None,
        "device_id": device.id,
        "token_preview": "tok-hist…",
    }
    assert "tok-history-0001-abcdefgh" not in response.get_data(as_text=True)


def test_an_opted_out_reminder_is_listed_as_skipped(
    client: FlaskClient,
    db: Session,
    participant: Participant,
    patient: dict[str, str],
    phone: Callable[..., PushDevice],
    nurse_at_evening: Callable[[], dict[str, str]],
) -> None:
    phone(participant)
    assert client.put(SETTINGS, json=RESET | {"opted_out": ["rest_pain_diary"]}, headers=patient).status_code == 200
    staff = nurse_at_evening()
    report = dispatch_due_reminders(db, LogSender(), EVENING)
    assert (report.sent, report.skipped) == (0, 1)

    result = client.get(history(participant.id), headers=staff).json

    [reminder] = result["reminders"]
    assert (reminder["kind"], reminder["status"], reminder["reason"]) == ("rest_pain_diary", "skipped", "opted_out")
    assert (reminder["tries"], reminder["sent_at"], reminder["deliveries"]) == (0, None, [])
    assert result["settings"]["opted_out"] == ["rest_pain_diary"]
    assert result["upcoming"] == [DIARY_TOMORROW | {"opted_out": True}]


def test_without_a_phone_the_reminder_is_skipped_for_no_device(
    client: FlaskClient, db: Session, participant: Participant, nurse_at_evening: Callable[[], dict[str, str]]
) -> None:
    staff = nurse_at_evening()
    dispatch_due_reminders(db, LogSender(), EVENING)

    [reminder] = client.get(history(participant.id), headers=staff).json["reminders"]

    assert (reminder["status"], reminder["reason"], reminder["deliveries"]) == ("skipped", "no_device", [])


def test_before_20_local_today_and_tomorrow_are_upcoming(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))  # at T0: 10:00 in Tehran

    result = client.get(history(participant.id), headers=staff).json

    assert result["upcoming"] == [DIARY_TODAY, DIARY_TOMORROW]
    assert result["reminders"] == []


def test_the_upcoming_reminders_follow_the_participants_own_time(
    client: FlaskClient, make: Factory, participant: Participant, patient: dict[str, str]
) -> None:
    client.put(SETTINGS, json=OWN_CHOICES, headers=patient)
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))

    result = client.get(history(participant.id), headers=staff).json

    # 19:15 in Tehran is 15:45 UTC; the Thursday is not the start of a week, so no walk reminder.
    assert [(u["local_date"], u["due_at"]) for u in result["upcoming"]] == [
        ("2026-03-05", "2026-03-05T15:45:00+00:00"),
        ("2026-03-06", "2026-03-06T15:45:00+00:00"),
    ]
    assert result["settings"] == DEFAULTS | OWN_CHOICES


def test_from_date_after_to_date_is_refused(client: FlaskClient, make: Factory, participant: Participant) -> None:
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    response = client.get(history(participant.id, from_date="2026-03-05", to_date="2026-03-04"), headers=staff)
    errors = errors_of(response, "validation_failed")
    assert any("from_date" in fields for fields in errors.values()), errors


def test_at_most_92_days_at_a_time(client: FlaskClient, make: Factory, participant: Participant) -> None:
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    # 2026-01-01 .. 2026-04-02 is 92 days, both ends included; one more day is too many.
    ok = client.get(history(participant.id, from_date="2026-01-01", to_date="2026-04-02"), headers=staff)
    assert ok.status_code == 200, ok.json
    assert (ok.json["from_date"], ok.json["to_date"]) == ("2026-01-01", "2026-04-02")

    response = client.get(history(participant.id, from_date="2026-01-01", to_date="2026-04-03"), headers=staff)

    errors = errors_of(response, "validation_failed")
    assert any("from_date" in fields for fields in errors.values()), errors


def test_a_bad_date_range_is_reported_against_the_query_string(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    response = client.get(history(participant.id, from_date="2026-03-05", to_date="2026-03-04"), headers=staff)
    assert list(errors_of(response, "validation_failed")) == ["query"]


def test_a_to_date_in_year_1_is_a_clear_422_not_a_500(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    """The default range starts 13 days before to_date, which year 1 has no room for."""
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    response = client.get(history(participant.id, to_date="0001-01-05"), headers=staff)
    assert list(errors_of(response, "validation_failed")["query"]) == ["to_date"]


def test_a_malformed_date_is_refused_by_the_schema(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    response = client.get(history(participant.id, to_date="2026-02-30"), headers=staff)
    assert list(errors_of(response, "unprocessable_entity")["query"]) == ["to_date"]


def test_a_monitor_of_the_site_reads_the_history_and_the_read_is_logged(
    client: FlaskClient, make: Factory, db: Session, participant: Participant
) -> None:
    monitor = make.staff("monitor", sites=("TEH-01",))
    staff = make.staff_headers(monitor)
    before = count(db, AccessEvent)

    response = client.get(history(participant.id), headers=staff)

    assert response.status_code == 200, response.json
    events = list(db.scalars(select(AccessEvent).order_by(AccessEvent.id)))[before:]
    assert [(e.resource, e.participant_id, e.actor_type, e.actor_role) for e in events] == [
        ("reminders", participant.id, "staff", "monitor")
    ]
    assert events[0].actor_id == str(monitor.id)
    assert events[0].occurred_at == T0
    assert events[0].request_id == response.headers["X-Request-ID"]


def test_a_refused_range_is_not_logged_as_a_read(
    client: FlaskClient, make: Factory, db: Session, participant: Participant
) -> None:
    staff = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    before = count(db, AccessEvent)
    response = client.get(history(participant.id, from_date="2026-03-05", to_date="2026-03-04"), headers=staff)
    assert response.status_code == 422
    assert count(db, AccessEvent) == before
