"""Two dispatchers at once (cron on two machines) send each reminder exactly once.

This needs real, separately committed transactions on separate connections, so it runs
on a database of its own (a fresh PostgreSQL database, or a fresh SQLite file), not
inside the rolled-back test transaction of the other tests.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.app import create_app
from backend.core.actor import Actor
from backend.db import Database
from backend.participants.service import change_status
from backend.reminders import claim as claim_module
from backend.reminders.dispatch import dispatch_due_reminders
from backend.reminders.models import PushDelivery, Reminder, ReminderStatus
from backend.reminders.plan import plan_reminders
from backend.reminders.record import DispatchReport
from backend.reminders.senders import FcmSender
from backend.reminders.service import register_device
from tests.conftest import test_config
from tests.factories import Factory
from tests.fake_fcm import FakeFcm, point_sdk_at, service_account_info
from tests.reminders.helpers import T0

PARTICIPANTS = 60
EVENING = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)  # 20:00 in Tehran


def _seed(engine: Engine) -> list[str]:
    """Enrolled participants in Tehran with one phone each; their tokens."""
    factory = sessionmaker(engine, expire_on_commit=False)
    app = create_app(test_config(), Database(engine, factory))
    tokens = []
    with factory() as session, app.app_context():
        make = Factory(session, app, app.test_client())
        for n in range(PARTICIPANTS):
            participant = make.participant(language="en")
            system = Actor.system("test", study_id=participant.study_id)
            change_status(session, system, participant.id, "enrol", "eligible", T0)
            patient = Actor(
                kind="participant",
                id=participant.id,
                role="patient",
                study_id=participant.study_id,
                site_ids=frozenset({participant.site_id}),
                participant_id=participant.id,
            )
            token = f"tok-concurrent-{n:04d}-{uuid.uuid4().hex[:8]}"
            data = {"fcm_token": token, "platform": "ios", "app_version": "1.4.0", "locale": "en"}
            register_device(session, patient, data, T0)
            tokens.append(token)
    return tokens


def test_two_dispatchers_at_once_send_each_reminder_once(
    own_engine: Engine, fcm: FakeFcm, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = _seed(own_engine)
    monkeypatch.setattr(claim_module, "CHUNK", 7)  # small claims, so the two interleave
    factory = sessionmaker(own_engine, expire_on_commit=False)
    with factory() as session:  # half planned already: the two race for claims, and to plan the rest
        plan_reminders(session, EVENING, DispatchReport())
        session.execute(delete(Reminder).where(Reminder.id % 2 == 0))
        session.commit()
    start = threading.Barrier(2)
    reports: dict[str, DispatchReport] = {}
    errors: list[BaseException] = []

    def run(worker: str, sender: FcmSender) -> None:
        try:
            with factory() as session:
                start.wait(timeout=10)
                reports[worker] = dispatch_due_reminders(session, sender, EVENING, worker=worker)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    with point_sdk_at(fcm.url):
        senders = [FcmSender(service_account_info(fcm.url + "/token")) for _ in range(2)]
        try:
            threads = [threading.Thread(target=run, args=(f"machine-{i}", s)) for i, s in enumerate(senders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        finally:
            for sender in senders:
                sender.close()

    assert not errors, errors
    assert Counter(fcm.sent_tokens()) == Counter(tokens)  # every phone once, none twice
    assert sum(r.sent for r in reports.values()) == PARTICIPANTS
    with Session(own_engine) as session:
        statuses = Counter(session.scalars(select(Reminder.status)))
        assert statuses == {ReminderStatus.SENT: PARTICIPANTS}
        assert session.scalar(select(func.count()).select_from(PushDelivery)) == PARTICIPANTS
        workers = Counter(session.scalars(select(Reminder.claimed_by)))
    # Both machines took claims of at most CHUNK rows in turn: one did not grab them all.
    assert set(workers) == {"machine-0", "machine-1"}, workers
