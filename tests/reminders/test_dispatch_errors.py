"""What each FCM error does to a reminder, its device and the delivery log, with the real
firebase-admin SDK against the local fake FCM; plus the `flask reminders dispatch` command,
the reminder's language and its time to live.

Every time is explicit: the dispatcher gets `now`, the SDK's own back-off sleeps are recorded
instead of slept. The participant is enrolled at T0 (10:00 in Tehran, Thursday 2026-03-05), has
no day 0 yet, so the only reminder of that day is the rest-pain diary at 20:00 local (16:30Z),
whose window closes at the diary's grace time, 10:00 local the next morning (06:30Z).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from firebase_admin import messaging
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from backend.app import create_app
from backend.audit.models import AuditEvent
from backend.core.actor import Actor
from backend.db import Database
from backend.diary.service import record_pain_score
from backend.participants.models import Participant
from backend.reminders.dispatch import dispatch_due_reminders
from backend.reminders.models import (
    DeliveryOutcome,
    PushDelivery,
    PushDevice,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from backend.reminders.senders import FcmSender, SenderConfigError
from backend.studies.protocol import DEMO_PROTOCOL_PATH, document_sha256, parse_protocol
from backend.studies.service import load_protocol
from tests import fake_fcm
from tests.conftest import test_config
from tests.factories import Factory
from tests.fake_fcm import FakeFcm, point_sdk_at, service_account_info
from tests.reminders.helpers import T0

# 20:00 in Tehran (+03:30) on 2026-03-05: the default diary reminder time.
EVENING = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)
# 10:00 in Tehran on 2026-03-06: the diary's grace time, when the reminder's window closes.
EXPIRES = datetime(2026, 3, 6, 6, 30, tzinfo=UTC)
# 2026-03-06 is day 20518 of the epoch (56 years with 14 leap days, then 31 + 28 + 5 days):
# 20518 × 86400 + 6.5 h.
EXPIRES_EPOCH = "1772778600"
WINDOW = 14 * 3600  # 16:30Z to 06:30Z next day

DIARY_EN = ("Pain diary", "How much did your leg hurt at rest today? It takes a minute.")
NEXT_DAY_EVENING = EVENING + timedelta(days=1)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """urllib3, inside the SDK, backs off with time.sleep between its retries: record, never wait."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def fresh_sender(fcm: FakeFcm) -> Iterator[Callable[[], FcmSender]]:
    """FcmSenders with their own credential (no cached OAuth token), made inside point_sdk_at."""
    made: list[FcmSender] = []

    def build() -> FcmSender:
        sender = FcmSender(service_account_info(fcm.url + "/token"))
        made.append(sender)
        return sender

    with point_sdk_at(fcm.url):
        yield build
    for sender in made:
        sender.close()


def reminders(db: Session, participant: Participant) -> list[Reminder]:
    db.expire_all()  # the dispatcher writes with bulk UPDATEs; the session keeps objects across commits
    return list(db.scalars(select(Reminder).where(Reminder.participant_id == participant.id).order_by(Reminder.id)))


def deliveries(db: Session, reminder: Reminder) -> list[PushDelivery]:
    db.expire_all()
    return list(
        db.scalars(select(PushDelivery).where(PushDelivery.reminder_id == reminder.id).order_by(PushDelivery.id))
    )


def device_row(db: Session, device: PushDevice) -> PushDevice:
    db.expire_all()
    row = db.get(PushDevice, device.id)
    assert row is not None
    return row


# -- a device that is gone ---------------------------------------------------------------


def test_unregistered_token_retires_the_device_and_is_never_tried_again(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    participant = enrolled()
    device = phone(participant, token="tok-gone-0001")
    fcm.fail_token("tok-gone-0001", 404, "UNREGISTERED")

    report = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert (report.planned, report.sent, report.failed, report.tokens_retired) == (1, 0, 1, 1)
    assert [r.status for r in fcm.received] == [404]  # not retried by the SDK
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.tries, reminder.sent_at) == (
        ReminderStatus.FAILED,
        "UNREGISTERED",
        1,
        None,
    )
    retired = device_row(db, device)
    assert (retired.retired_at, retired.retired_reason) == (EVENING, "unregistered")
    [event] = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "push_device.retire", AuditEvent.entity_id == str(device.id))
    )
    assert (event.actor_type, event.actor_id, event.reason) == ("system", "flask reminders dispatch", "unregistered")
    [delivery] = deliveries(db, reminder)
    assert delivery.push_device_id == device.id
    assert delivery.outcome == DeliveryOutcome.TOKEN_RETIRED
    assert delivery.error_code == "UNREGISTERED"
    assert delivery.error_message == "Requested entity was not found."
    assert delivery.attempted_at == EVENING

    # The next evening's diary reminder finds no device left: planned as skipped, nothing sent.
    fcm.fail_token("tok-gone-0001", 404, None, times=0)  # even a token that works again is not tried
    tomorrow = dispatch_due_reminders(db, fcm_sender, NEXT_DAY_EVENING)

    assert (tomorrow.planned, tomorrow.skipped, tomorrow.sent) == (0, 1, 0)
    assert len(fcm.received) == 1
    first, second = reminders(db, participant)
    assert first.status == ReminderStatus.FAILED
    assert (second.local_date.isoformat(), second.status, second.reason) == (
        "2026-03-06",
        ReminderStatus.SKIPPED,
        "no_device",
    )
    assert deliveries(db, second) == []


def test_invalid_registration_token_retires_the_device(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    # The fake answers INVALID_ARGUMENT with FCM's own wording, which the sender recognises.
    assert fake_fcm._MESSAGES["INVALID_ARGUMENT"] == "The registration token is not a valid FCM registration token"
    participant = enrolled()
    device = phone(participant, token="tok-garbled-0001")
    fcm.fail_token("tok-garbled-0001", 400, "INVALID_ARGUMENT")

    report = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert (report.sent, report.failed, report.tokens_retired) == (0, 1, 1)
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "INVALID_TOKEN")
    retired = device_row(db, device)
    assert (retired.retired_at, retired.retired_reason) == (EVENING, "invalid_token")
    [delivery] = deliveries(db, reminder)
    assert (delivery.outcome, delivery.error_code, delivery.error_message) == (
        DeliveryOutcome.TOKEN_RETIRED,
        "INVALID_TOKEN",
        "The registration token is not a valid FCM registration token",
    )


def test_invalid_argument_about_the_message_keeps_the_device(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # fail_token cannot choose the error message; FCM also says INVALID_ARGUMENT for a bad payload.
    monkeypatch.setitem(
        fake_fcm._MESSAGES, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl' (type.googleapis.com/Duration)"
    )
    participant = enrolled()
    device = phone(participant, token="tok-fine-0001")
    fcm.fail_token("tok-fine-0001", 400, "INVALID_ARGUMENT")

    report = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert (report.failed, report.tokens_retired) == (1, 0)
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "INVALID_ARGUMENT")
    assert device_row(db, device).retired_at is None
    [delivery] = deliveries(db, reminder)
    assert (delivery.outcome, delivery.error_code) == (DeliveryOutcome.FAILED, "INVALID_ARGUMENT")


def test_one_dead_device_of_two_still_gets_the_reminder_sent(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    participant = enrolled()
    old = phone(participant, token="tok-old-phone-0001")
    new = phone(participant, token="tok-new-phone-0001", platform="ios")
    fcm.fail_token("tok-old-phone-0001", 404, "UNREGISTERED")

    report = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert (report.sent, report.failed, report.tokens_retired) == (1, 0, 1)
    assert fcm.sent_tokens() == ["tok-new-phone-0001"]
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.sent_at) == (ReminderStatus.SENT, None, EVENING)
    assert device_row(db, old).retired_reason == "unregistered"
    assert device_row(db, new).retired_at is None
    logged = {(d.push_device_id, d.outcome, d.error_code) for d in deliveries(db, reminder)}
    assert logged == {
        (old.id, DeliveryOutcome.TOKEN_RETIRED, "UNREGISTERED"),
        (new.id, DeliveryOutcome.SENT, None),
    }


# -- errors of the moment: tried again later ---------------------------------------------


def test_quota_exceeded_waits_for_retry_after_then_sends(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    sleeps: list[float],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-busy-0001")
    fcm.fail_token("tok-busy-0001", 429, "QUOTA_EXCEEDED", retry_after=120, times=1)

    report = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    # One request, no sleeping inside the SDK: the dispatcher does the waiting.
    assert [r.status for r in fcm.received] == [429]
    assert sleeps == []
    [reminder] = reminders(db, participant)
    # Retry-After 120 s wins over the first back-off of 60 s.
    assert (reminder.status, reminder.reason, reminder.tries, reminder.next_try_at) == (
        ReminderStatus.PENDING,
        "QUOTA_EXCEEDED",
        1,
        EVENING + timedelta(seconds=120),
    )

    early = dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(seconds=119))
    assert early.sent == 0 and len(fcm.received) == 1

    later = dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(seconds=120))

    assert later.sent == 1
    assert fcm.sent_tokens() == ["tok-busy-0001"]
    assert fcm.received[-1].body["message"]["android"]["ttl"] == f"{WINDOW - 120}s"  # 50280 s left
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.tries, reminder.sent_at, reminder.next_try_at) == (
        ReminderStatus.SENT,
        2,
        EVENING + timedelta(seconds=120),
        None,
    )
    log = [(d.attempted_at, d.outcome, d.error_code, d.retry_after_seconds) for d in deliveries(db, reminder)]
    assert log == [
        (EVENING, DeliveryOutcome.RETRY, "QUOTA_EXCEEDED", 120),
        (EVENING + timedelta(seconds=120), DeliveryOutcome.SENT, None, None),
    ]
    assert dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(minutes=10)).sent == 0
    assert fcm.sent_tokens() == ["tok-busy-0001"]


def test_quota_exceeded_near_the_end_of_the_window_is_not_sent_after_it_closes(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    sleeps: list[float],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-busy-0002")
    fcm.fail_token("tok-busy-0002", 429, "QUOTA_EXCEEDED", retry_after=120, times=1)
    start = EXPIRES - timedelta(seconds=100)  # a late run, 100 s before the diary window closes

    dispatch_due_reminders(db, fcm_sender, start)

    # With the SDK's default retry it would sleep 120 s and hand FCM the push after the
    # window closed; ours does not sleep, and the reminder is given up instead.
    assert sleeps == []
    assert fcm.sent_tokens() == []
    [reminder] = reminders(db, participant)
    # What the dispatcher itself decides for a 429: waiting 120 s would end after the window.
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "QUOTA_EXCEEDED")


def test_unavailable_is_retried_by_the_sdk_then_backs_off(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    sleeps: list[float],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-flaky-0001")
    fcm.fail_token("tok-flaky-0001", 503, None)

    first = dispatch_due_reminders(db, fcm_sender, EVENING)

    assert first.retrying == 1
    assert [r.status for r in fcm.received] == [503] * 5  # the SDK's own 4 retries
    assert sleeps == [1.0, 2.0, 4.0]  # urllib3 retries the first time at once
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.tries, reminder.next_try_at) == (
        ReminderStatus.PENDING,
        "UNAVAILABLE",
        1,
        EVENING + timedelta(minutes=1),  # no Retry-After: the first back-off
    )
    [delivery] = deliveries(db, reminder)
    assert (delivery.outcome, delivery.error_code, delivery.retry_after_seconds) == (
        DeliveryOutcome.RETRY,
        "UNAVAILABLE",
        None,
    )

    dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(minutes=1))

    [reminder] = reminders(db, participant)
    # Second try: the back-off doubles to 2 minutes.
    assert (reminder.status, reminder.tries, reminder.next_try_at) == (
        ReminderStatus.PENDING,
        2,
        EVENING + timedelta(minutes=3),
    )
    assert len(fcm.received) == 10 and fcm.sent_tokens() == []


def test_unavailable_until_the_window_closes_fails_and_is_never_sent_late(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    sleeps: list[float],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-flaky-0002")
    fcm.fail_token("tok-flaky-0002", 503, None)

    # A late run catches yesterday's diary reminder up 150 s before its window closes.
    dispatch_due_reminders(db, fcm_sender, EXPIRES - timedelta(seconds=150))
    [reminder] = reminders(db, participant)
    assert (reminder.local_date.isoformat(), reminder.status, reminder.next_try_at) == (
        "2026-03-05",
        ReminderStatus.PENDING,
        EXPIRES - timedelta(seconds=90),  # + 60 s, still inside the window
    )

    # Second try fails too; a 120 s back-off would end after the window: give up.
    report = dispatch_due_reminders(db, fcm_sender, EXPIRES - timedelta(seconds=90))
    assert report.failed == 1
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.tries, reminder.next_try_at) == (
        ReminderStatus.FAILED,
        "UNAVAILABLE",
        2,
        None,
    )
    assert len(fcm.received) == 10

    fcm.fail_token("tok-flaky-0002", 503, None, times=0)  # FCM is back
    for moment in (EXPIRES, EXPIRES + timedelta(minutes=5)):
        assert dispatch_due_reminders(db, fcm_sender, moment).sent == 0
    assert len(fcm.received) == 10 and fcm.sent_tokens() == []
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.sent_at) == (ReminderStatus.FAILED, "UNAVAILABLE", None)


def test_a_pending_retry_whose_window_closes_before_the_next_run_is_closed_unsent(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    sleeps: list[float],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-flaky-0003")
    fcm.fail_token("tok-flaky-0003", 503, None, times=5)  # one dispatcher run's worth

    dispatch_due_reminders(db, fcm_sender, EXPIRES - timedelta(seconds=150))  # next try at EXPIRES - 90 s
    # No dispatcher runs until the window has closed (cron stopped): the row is closed, not sent.
    report = dispatch_due_reminders(db, fcm_sender, EXPIRES)

    assert (report.sent, report.failed) == (0, 1)
    assert fcm.sent_tokens() == []
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.tries) == (ReminderStatus.FAILED, "window_closed", 1)


# -- the operator's errors: the run stops, nothing is lost -------------------------------


def test_sender_id_mismatch_stops_the_run_and_leaves_the_reminder_to_send_later(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    participant = enrolled()
    device = phone(participant, token="tok-mismatch-0001")
    fcm.fail_token("tok-mismatch-0001", 403, "SENDER_ID_MISMATCH", times=1)

    with pytest.raises(SenderConfigError, match=r"SENDER_ID_MISMATCH"):
        dispatch_due_reminders(db, fcm_sender, EVENING)

    assert [r.status for r in fcm.received] == [403]
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.tries, reminder.reason, reminder.sent_at, reminder.next_try_at) == (
        ReminderStatus.PENDING,
        0,
        None,
        None,
        EVENING,
    )
    assert device_row(db, device).retired_at is None
    [delivery] = deliveries(db, reminder)
    assert (delivery.outcome, delivery.error_code) == (DeliveryOutcome.FAILED, "SENDER_ID_MISMATCH")

    # The operator fixed the project; the next cron run sends it, once.
    report = dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(minutes=1))

    assert report.sent == 1
    assert fcm.sent_tokens() == ["tok-mismatch-0001"]
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.tries, reminder.sent_at) == (
        ReminderStatus.SENT,
        1,
        EVENING + timedelta(minutes=1),
    )
    assert dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(minutes=2)).sent == 0
    assert len(fcm.received) == 2


def test_refused_oauth_token_raises_before_anything_is_claimed(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fresh_sender: Callable[[], FcmSender],
) -> None:
    participant = enrolled()
    phone(participant, token="tok-oauth-0001")
    fcm.fail_oauth()
    sender = fresh_sender()

    with pytest.raises(SenderConfigError, match="FCM credentials were refused"):
        dispatch_due_reminders(db, sender, EVENING)

    assert fcm.token_requests == 1
    assert fcm.received == []
    # Checked before planning, so there is not even a row to claim.
    assert reminders(db, participant) == []

    fcm.reset()  # the key is valid again
    assert dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=1)).sent == 1
    assert fcm.sent_tokens() == ["tok-oauth-0001"]


# -- the command ---------------------------------------------------------------------------


def run_dispatch(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["reminders", "dispatch"])
    return result.exit_code, result.output


@pytest.fixture
def fcm_app(
    engine: Engine, session_factory: sessionmaker[Session], photo_dir: Path, tmp_path: Path, fcm: FakeFcm
) -> Flask:
    """The app configured with a service-account file whose token URI is the fake's."""
    credentials = tmp_path / "firebase-service-account.json"
    credentials.write_text(json.dumps(service_account_info(fcm.url + "/token")), encoding="utf-8")
    config = test_config(firebase_credentials=str(credentials), photo_storage_dir=photo_dir)
    return create_app(config, Database(engine, session_factory))


def test_cli_without_firebase_credentials_uses_the_log_sender(
    app: Flask,
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    clock: time_machine.Traveller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert app.config["LIMBTRACK"].firebase_credentials is None
    participant = enrolled()
    device = phone(participant, token="tok-cli-log-0001")
    caplog.set_level(logging.INFO, logger="backend.reminders.senders")
    clock.move_to(EVENING)

    code, out = run_dispatch(app)

    assert code == 0, out
    assert out == "reminders (log sender): planned 1, skipped 0, sent 1, retrying 0, failed 0, tokens retired 0\n"
    [reminder] = reminders(db, participant)
    assert reminder.status == ReminderStatus.SENT
    [delivery] = deliveries(db, reminder)
    assert (delivery.sender, delivery.outcome, delivery.push_device_id) == ("log", DeliveryOutcome.SENT, device.id)
    assert delivery.message_id is not None and delivery.message_id.startswith("log/")
    logged = [r.getMessage() for r in caplog.records if r.name == "backend.reminders.senders"]
    assert logged == [
        "push (log sender) rest_pain_diary to tok-cli-…: Pain diary — "
        "How much did your leg hurt at rest today? It takes a minute."
    ]


def test_cli_with_firebase_credentials_sends_through_fcm(
    fcm_app: Flask,
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    clock: time_machine.Traveller,
    fcm: FakeFcm,
) -> None:
    participant = enrolled()
    phone(participant, token="tok-cli-fcm-0001")
    clock.move_to(EVENING)

    with point_sdk_at(fcm.url):
        code, out = run_dispatch(fcm_app)

    assert code == 0, out
    assert out == "reminders (fcm sender): planned 1, skipped 0, sent 1, retrying 0, failed 0, tokens retired 0\n"
    assert fcm.sent_tokens() == ["tok-cli-fcm-0001"]
    assert fcm.received[0].headers["authorization"] == "Bearer fake-access-token"
    [reminder] = reminders(db, participant)
    [delivery] = deliveries(db, reminder)
    assert (reminder.status, delivery.sender) == (ReminderStatus.SENT, "fcm")


def test_cli_with_a_mismatched_sender_id_exits_non_zero_for_the_operator(
    fcm_app: Flask,
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    clock: time_machine.Traveller,
    fcm: FakeFcm,
) -> None:
    participant = enrolled()
    phone(participant, token="tok-cli-fcm-0002")
    fcm.fail_token("tok-cli-fcm-0002", 403, "SENDER_ID_MISMATCH")
    clock.move_to(EVENING)

    with point_sdk_at(fcm.url):
        code, out = run_dispatch(fcm_app)

    assert code == 1
    assert out == (
        "Error: push is misconfigured, nothing more was sent: "
        "FCM refused the configuration (SENDER_ID_MISMATCH): SenderId mismatch\n"
    )
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.tries) == (ReminderStatus.PENDING, 0)


def test_cli_with_an_unreadable_credentials_file_exits_non_zero(
    engine: Engine,
    session_factory: sessionmaker[Session],
    photo_dir: Path,
    tmp_path: Path,
) -> None:
    config = test_config(firebase_credentials=str(tmp_path / "missing.json"), photo_storage_dir=photo_dir)

    code, out = run_dispatch(create_app(config, Database(engine, session_factory)))

    assert code == 1
    assert out.startswith(
        "Error: push is misconfigured, nothing more was sent: FIREBASE_CREDENTIALS is not a usable service-account file"
    )


# -- language and time to live -------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "title", "body"),
    [
        ("fa", "دفترچه درد", "امروز در حال استراحت پایتان چقدر درد داشت؟ فقط یک دقیقه طول می‌کشد."),
        ("zh", "疼痛日记", "今天休息时您的腿有多痛？只需一分钟。"),
    ],
)
def test_the_reminder_is_in_the_participants_language(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    language: str,
    title: str,
    body: str,
) -> None:
    participant = enrolled(language=language)
    phone(participant)

    dispatch_due_reminders(db, fcm_sender, EVENING)

    [received] = fcm.received
    assert received.body["message"]["notification"] == {"title": title, "body": body}


def test_a_language_without_texts_falls_back_to_the_protocols_default(
    db: Session,
    make: Factory,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    # A protocol may declare a language before its reminder texts are translated (only the
    # default language's text is required): version 1.1.0 of the demo adds Arabic, untranslated.
    make.study()
    text = DEMO_PROTOCOL_PATH.read_text(encoding="utf-8")
    assert text.count("languages: [en, fa, zh]") == 1 and text.count('version: "1.0.1"') == 1
    text = text.replace("languages: [en, fa, zh]", "languages: [en, fa, zh, ar]")
    text = text.replace('version: "1.0.1"', 'version: "1.1.0"')
    document = parse_protocol(text)
    load_protocol(db, document, document_sha256(document), Actor.system("test"), T0 + timedelta(minutes=1))
    participant = enrolled(language="ar")
    phone(participant)

    dispatch_due_reminders(db, fcm_sender, EVENING)

    [received] = fcm.received
    assert received.body["message"]["notification"] == {"title": DIARY_EN[0], "body": DIARY_EN[1]}


@pytest.mark.parametrize(
    ("late", "ttl"),
    [
        (timedelta(0), "50400s"),  # 14 h before 06:30Z
        (timedelta(hours=1, minutes=45), "44100s"),  # 12 h 15 min (21:45, before the quiet hours)
    ],
)
def test_a_later_dispatch_has_a_shorter_ttl_and_the_same_apns_expiration(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
    late: timedelta,
    ttl: str,
) -> None:
    participant = enrolled()
    phone(participant, platform="ios")

    dispatch_due_reminders(db, fcm_sender, EVENING + late)

    [received] = fcm.received
    message = received.body["message"]
    assert message["android"]["ttl"] == ttl
    assert message["apns"]["headers"]["apns-expiration"] == EXPIRES_EPOCH
    [reminder] = reminders(db, participant)
    assert (reminder.kind, reminder.due_at, reminder.expires_at) == (ReminderKind.REST_PAIN_DIARY, EVENING, EXPIRES)


def test_on_the_real_fcm_url_too_the_sdk_does_not_sleep_out_retry_after() -> None:
    """The SDK mounts its own retrying adapter on https://fcm.googleapis.com; requests
    prefers the longest prefix, so ours must be mounted on that origin to take effect in
    production, not only against the fake."""
    sender = FcmSender(service_account_info("http://127.0.0.1:9/token"))
    try:
        service = messaging._get_messaging_service(sender.app)
        assert service._fcm_url.startswith("https://fcm.googleapis.com/v1/projects/limbtrack-test/")
        retry = service._client.session.get_adapter(service._fcm_url).max_retries
        assert retry.respect_retry_after_header is False
        assert list(retry.status_forcelist) == [500, 503]
    finally:
        sender.close()


def test_a_late_run_in_quiet_hours_waits_for_their_end_and_then_sends(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    """Cron was down over the evening: the 20:00 diary reminder, first seen at 02:00 Tehran,
    is not pushed at night but at 08:00 (04:30Z), two hours before the diary day closes."""
    participant = enrolled()
    phone(participant)
    night = datetime(2026, 3, 5, 22, 30, tzinfo=UTC)  # 02:00 in Tehran

    report = dispatch_due_reminders(db, fcm_sender, night)

    assert fcm.received == [] and report.sent == 0
    [reminder] = reminders(db, participant)
    morning = datetime(2026, 3, 6, 4, 30, tzinfo=UTC)
    assert (reminder.status, reminder.reason, reminder.tries, reminder.next_try_at) == (
        ReminderStatus.PENDING,
        "quiet_hours",
        0,
        morning,
    )
    assert dispatch_due_reminders(db, fcm_sender, morning - timedelta(minutes=1)).sent == 0
    assert dispatch_due_reminders(db, fcm_sender, morning).sent == 1
    [received] = fcm.received
    assert received.body["message"]["android"]["ttl"] == "7200s"  # until 10:00 Tehran


def test_a_reminder_held_over_quiet_hours_is_not_sent_once_the_diary_is_filled(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    """A cron run at 22:15 Tehran finds the 20:00 diary reminder inside the quiet hours and
    holds it to 08:00; the patient fills the diary at 07:30, so at 08:00 nothing is pushed."""
    participant = enrolled()
    phone(participant)
    late_run = datetime(2026, 3, 5, 18, 45, tzinfo=UTC)  # 22:15 in Tehran (+03:30)
    dispatch_due_reminders(db, fcm_sender, late_run)
    [held] = reminders(db, participant)
    morning = datetime(2026, 3, 6, 4, 30, tzinfo=UTC)  # 08:00 in Tehran
    assert (held.status, held.reason, held.next_try_at) == (ReminderStatus.PENDING, "quiet_hours", morning)

    filled_at = datetime(2026, 3, 6, 4, 0, tzinfo=UTC)  # 07:30, within the 10:00 grace time
    patient = Actor(
        kind="participant",
        id=participant.id,
        role="patient",
        study_id=participant.study_id,
        site_ids=frozenset({participant.site_id}),
        participant_id=participant.id,
    )
    data = {"client_uuid": uuid.uuid4(), "recorded_at": filled_at, "score": 4, "diary_date": date(2026, 3, 5)}
    record_pain_score(db, patient, data, filled_at)

    report = dispatch_due_reminders(db, fcm_sender, morning)

    assert fcm.received == []
    assert (report.sent, report.skipped, report.retrying) == (0, 1, 0)
    db.expire_all()
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.reason, reminder.sent_at) == (ReminderStatus.SKIPPED, "already_done", None)
    assert db.scalars(select(PushDelivery).where(PushDelivery.reminder_id == reminder.id)).all() == []
