"""Fixtures of the symptom report tests: a frozen clock, an enrolled participant whose day 0 is today,
her app, a nurse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from tests.factories import Factory
from tests.symptoms.helpers import T0


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at T0; tests move it with `clock.move_to(...)`."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0, day 0 on T0's local date."""
    participant = make.participant(day0_date="2026-03-02")
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", T0)


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    """Authorization headers of the participant's app."""
    return make.patient_headers(participant)


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def staff(make: Factory, nurse: StaffUser) -> dict[str, str]:
    """Authorization headers of a TEH-01 nurse."""
    return make.staff_headers(nurse)
