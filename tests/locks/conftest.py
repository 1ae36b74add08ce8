"""Fixtures of the data lock tests: a frozen clock, a participant enrolled before her
baseline window with day 0 on DAY0, her app, a nurse of her site and a study admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.participants.service import change_status
from tests.factories import Factory
from tests.locks.helpers import DAY0, ENROLLED_AT, T0


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """At TEH-01, day 0 on DAY0, enrolled at ENROLLED_AT, in Asia/Tehran."""
    participant = make.participant(day0_date=DAY0.isoformat())
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", ENROLLED_AT)


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    return make.patient_headers(participant)


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    return make.staff_headers(make.staff("nurse", sites=("TEH-01",)))


@pytest.fixture
def admin(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    return make.staff_headers(make.staff("admin"))
