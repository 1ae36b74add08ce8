"""Fixtures of the amputation event tests: a frozen clock, a participant enrolled the day
before T0 (consent 2026-01-10), a nurse of her site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from tests.amputations.helpers import T0
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0 - 1 day, target leg right, in Asia/Tehran."""
    participant = make.participant()
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", T0 - timedelta(days=1))


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def staff(make: Factory, nurse: StaffUser) -> dict[str, str]:
    """Authorization headers of a TEH-01 nurse."""
    return make.staff_headers(nurse)
