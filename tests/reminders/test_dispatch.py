"""`flask reminders dispatch` with the real firebase-admin SDK against a local fake FCM:
the exact wire JSON, each FCM error's consequence, and at-most-once sending."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Device, Participant
from backend.participants.service import change_status
from backend.reminders import send as send_module
from backend.reminders.claim import claim_due
from backend.reminders.dispatch import dispatch_due_reminders
from backend.reminders.models import DeliveryOutcome, PushDelivery, PushDevice, Reminder, ReminderKind, ReminderStatus
from backend.reminders.plan import plan_reminders
from backend.reminders.record import DispatchReport
from backend.reminders.send import send_claimed
from backend.reminders.senders import FcmSender, LogSender, Push, SenderConfigError, SendResult
from tests.fake_fcm import FakeFcm

# 20:00 in Tehran on 2026-03-05: the default diary reminder time.
EVENING = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)


def reminders(db: Session, participant: Participant) -> list[Reminder]:
    return list(db.scalars(select(Reminder).where(Reminder.participant_id == participant.id).order_by(Reminder.id)))


def test_the_diary_reminder_goes_out_at_20_local_with_the_exact_fcm_payload(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    fcm: FakeFcm,
    fcm_sender: FcmSender,
) -> None:
    participant = enrolled()
    device = phone(participant, token="tok-diary-0001-abcdefgh")

    early = dispatch_due_reminders(db, fcm_sender, EVENING - timedelta(minutes=1))
    assert early.sent == 0 and fcm.received == []

    report = dispatch_due_reminders(db, fcm_sender, EVENING)
    assert report.sent == 1
    [received] = fcm.received
    reminder = reminders(db, participant)[0]
    expires = datetime(2026, 3, 6, 6, 30, tzinfo=UTC)  # the diary day closes at 10:00 next morning
    assert received.project == "limbtrack-test"
    assert received.body == {
        "message": {
            "fid": "tok-diary-0001-abcdefgh",
            "notification": {
                "title": "Pain diary",
                "body": "How much did your leg hurt at rest today? It takes a minute.",
            },
            "data": {
                "kind": "rest_pain_diary",
                "local_date": "2026-03-05",
                "reminder_id": str(reminder.id),
                "deep_link": "limbtrack://tasks/rest_pain_diary?date=2026-03-05",
            },
            "android": {
                "collapse_key": "rest_pain_diary",
                "priority": "high",
                "ttl": f"{int((expires - EVENING).total_seconds())}s",
                "notification": {"tag": "rest_pain_diary"},
            },
            "apns": {
                "headers": {
                    "apns-collapse-id": "rest_pain_diary",
                    "apns-expiration": str(int(expires.timestamp())),
                    "apns-priority": "10",
                    "apns-push-type": "alert",
                },
                "payload": {"aps": {"thread-id": "rest_pain_diary", "sound": "default"}},
            },
        }
    }
    assert reminder.kind == ReminderKind.REST_PAIN_DIARY
    assert reminder.status == ReminderStatus.SENT
    [delivery] = db.scalars(select(PushDelivery).where(PushDelivery.reminder_id == reminder.id))
    assert delivery.push_device_id == device.id
    assert delivery.sender == "fcm"
    assert delivery.message_id and delivery.message_id.startswith("projects/limbtrack-test/messages/")

    again = dispatch_due_reminders(db, fcm_sender, EVENING + timedelta(minutes=1))
    assert again.sent == 0 and len(fcm.received) == 1  # at most once


def test_a_claim_abandoned_mid_send_is_closed_as_interrupted_and_never_resent(
    db: Session, enrolled: Callable[..., Participant], phone: Callable[..., PushDevice]
) -> None:
    """At most once: a dispatcher that claimed a reminder and then hung may or may not have
    reached FCM, so after ten minutes another run closes the claim instead of sending it
    again; if the hung run then finishes, it cannot undo that verdict."""
    participant = enrolled()
    phone(participant)
    plan_reminders(db, EVENING, DispatchReport())
    stuck = claim_due(db, EVENING, "machine-a")  # claimed, then the machine hangs
    assert len(stuck) == 1

    sender = LogSender()
    assert dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=9), worker="machine-b").sent == 0
    report = dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=11), worker="machine-b")
    [reminder] = reminders(db, participant)
    assert (report.sent, report.failed) == (0, 1)
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "interrupted")

    send_claimed(db, sender, stuck, EVENING + timedelta(minutes=12), DispatchReport())  # machine-a wakes up
    db.refresh(reminder)
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "interrupted")
    [delivery] = db.scalars(select(PushDelivery).where(PushDelivery.reminder_id == reminder.id))
    assert delivery.sender == "log"  # its attempt is still in the delivery log


class CrashingSender(LogSender):
    """A dispatcher whose machine dies in the middle of sending (after its claim committed)."""

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        raise KeyboardInterrupt("the machine went down")


def test_a_reminder_planned_and_claimed_by_a_dispatcher_that_dies_is_never_sent_by_another(
    db: Session, enrolled: Callable[..., Participant], phone: Callable[..., PushDevice]
) -> None:
    """A row due at once is written already claimed by its planner: if that dispatcher dies
    before FCM answers, nobody can know whether the push left, so it is not sent again."""
    participant = enrolled()
    phone(participant)
    with pytest.raises(KeyboardInterrupt):
        dispatch_due_reminders(db, CrashingSender(), EVENING, worker="machine-a")
    db.rollback()
    [reminder] = reminders(db, participant)
    assert (reminder.status, reminder.claimed_by, reminder.tries) == (ReminderStatus.SENDING, "machine-a", 1)

    sender = ScriptedSender({})
    assert dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=5), worker="machine-b").sent == 0
    report = dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=11), worker="machine-b")
    db.refresh(reminder)
    assert (report.sent, report.failed, sender.sent) == (0, 1, [])
    assert (reminder.status, reminder.reason) == (ReminderStatus.FAILED, "interrupted")


@dataclass
class ScriptedSender:
    """A sender answering per token from a script (the SDK paths are covered against the fake)."""

    script: dict[str, SendResult]
    name: str = "script"
    sent: list[str] = field(default_factory=list)

    def check(self) -> None:
        return None

    def send(self, pushes: Sequence[Push]) -> list[SendResult]:
        self.sent.extend(push.token for push in pushes)
        return [self.script.get(push.token, SendResult(DeliveryOutcome.SENT, message_id="ok")) for push in pushes]


def test_a_run_stopped_by_a_configuration_error_releases_reminders_whose_phones_were_not_all_tried(
    db: Session,
    enrolled: Callable[..., Participant],
    phone: Callable[..., PushDevice],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(send_module, "MAX_BATCH", 2)
    first, second = enrolled(), enrolled()
    phone(first, token="tok-first-mismatch-0001")
    old = phone(second, token="tok-second-old-0000001")
    phone(second, token="tok-second-new-0000001")  # another app install of the same person
    mismatch = SendResult(DeliveryOutcome.FAILED, error_code="SENDER_ID_MISMATCH", fatal=True)
    gone = SendResult(DeliveryOutcome.TOKEN_RETIRED, error_code="UNREGISTERED")
    sender = ScriptedSender({"tok-first-mismatch-0001": mismatch, "tok-second-old-0000001": gone})

    with pytest.raises(SenderConfigError, match="SENDER_ID_MISMATCH"):
        dispatch_due_reminders(db, sender, EVENING)

    # The run stopped after the first two pushes: the second person's new phone was never
    # tried, so their reminder is not judged on the old phone alone.
    assert sender.sent == ["tok-first-mismatch-0001", "tok-second-old-0000001"]
    for participant in (first, second):
        [reminder] = reminders(db, participant)
        assert (reminder.status, reminder.tries, reminder.claimed_by) == (ReminderStatus.PENDING, 0, None)
    db.refresh(old)
    assert old.retired_reason == "unregistered"  # what FCM said about it still holds

    sender.script.clear()  # the operator fixed the project
    report = dispatch_due_reminders(db, sender, EVENING + timedelta(minutes=1))
    assert report.sent == 2
    assert sender.sent[2:] == ["tok-first-mismatch-0001", "tok-second-new-0000001"]


def test_a_participant_withdrawn_or_signed_out_after_planning_gets_nothing(
    db: Session, enrolled: Callable[..., Participant], phone: Callable[..., PushDevice]
) -> None:
    withdrawn, signed_out = enrolled(), enrolled()
    phone(withdrawn)
    device = phone(signed_out)
    plan_reminders(db, EVENING, DispatchReport())
    change_status(
        db, Actor.system("test", study_id=withdrawn.study_id), withdrawn.id, "withdraw", "moved away", EVENING
    )
    install = Device(participant_id=signed_out.id, platform="android", revoked_at=EVENING)
    db.add(install)
    db.flush()
    device.device_id = install.id  # the app install behind the token was signed out
    db.commit()
    sender = ScriptedSender({})

    report = dispatch_due_reminders(db, sender, EVENING)

    assert sender.sent == [] and report.failed == 2
    assert [(r.status, r.reason) for r in reminders(db, withdrawn)] == [(ReminderStatus.FAILED, "not_active")]
    assert [(r.status, r.reason) for r in reminders(db, signed_out)] == [(ReminderStatus.FAILED, "no_device")]
