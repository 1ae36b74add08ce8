"""Fixtures of the reminder tests: a frozen clock, enrolled participants in chosen zones,
their registered phones, and the real firebase-admin SDK talking to a local fake FCM."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.reminders.models import PushDevice
from backend.reminders.senders import FcmSender
from backend.reminders.service import register_device
from tests.factories import Factory
from tests.fake_fcm import FakeFcm, point_sdk_at, service_account_info
from tests.reminders.helpers import T0


@pytest.fixture
def start_time() -> datetime:
    """The suite's clock starts at T0 here; services get `now` explicitly, routes read it."""
    return T0


@pytest.fixture
def enrolled(make: Factory, clock: time_machine.Traveller) -> Callable[..., Participant]:
    """An active participant enrolled at `at` (default T0) in `timezone`, speaking `language`."""

    def enrol(
        timezone: str = "Asia/Tehran",
        language: str = "en",
        day0: date | None = None,
        at: datetime = T0,
        site: str = "TEH-01",
    ) -> Participant:
        return make.enrolled(
            at, timezone=timezone, language=language, site_code=site, day0_date=day0.isoformat() if day0 else None
        )

    return enrol


@pytest.fixture
def phone(db: Session) -> Callable[..., PushDevice]:
    """Register an FCM token for a participant, as their app would."""

    def register(participant: Participant, token: str | None = None, platform: str = "android") -> PushDevice:
        actor = Actor(
            kind="participant",
            id=participant.id,
            role="patient",
            study_id=participant.study_id,
            site_ids=frozenset({participant.site_id}),
            participant_id=participant.id,
        )
        data = {
            "fcm_token": token or f"tok-{uuid.uuid4().hex}",
            "platform": platform,
            "app_version": "1.4.0",
            "locale": "en-GB",
        }
        device, _ = register_device(db, actor, data, T0)
        return device

    return register


@pytest.fixture(scope="module")
def fake_fcm() -> Iterator[FakeFcm]:
    with FakeFcm() as server:
        yield server


@pytest.fixture
def fcm(fake_fcm: FakeFcm) -> Iterator[FakeFcm]:
    """The fake, emptied for this test."""
    fake_fcm.reset()
    yield fake_fcm


@pytest.fixture
def fcm_sender(fcm: FakeFcm) -> Iterator[FcmSender]:
    """The production sender with a generated service account whose token URI is the fake's."""
    with point_sdk_at(fcm.url):
        sender = FcmSender(service_account_info(fcm.url + "/token"))
        try:
            yield sender
        finally:
            sender.close()
