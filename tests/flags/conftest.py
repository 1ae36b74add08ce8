"""Fixtures of the flag queue tests: a frozen clock, one enrolled participant at each of
the two Tehran sites with her app, and a nurse at each site."""

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
from tests.flags.helpers import T0


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at T0; tests move it with `clock.move_to(...)`."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def enrolled(make: Factory, db: Session, **overrides: str) -> Participant:
    participant = make.participant(**overrides)
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", T0)


@pytest.fixture
def participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """Enrolled at TEH-01 at T0."""
    return enrolled(make, db, site_code="TEH-01", subject_code="TEH01-001")


@pytest.fixture
def other_participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """Enrolled at TEH-02 at T0."""
    return enrolled(make, db, site_code="TEH-02", subject_code="TEH02-001")


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    return make.patient_headers(participant)


@pytest.fixture
def other_patient(make: Factory, other_participant: Participant) -> dict[str, str]:
    return make.patient_headers(other_participant)


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def staff(make: Factory, nurse: StaffUser) -> dict[str, str]:
    """Authorization headers of the TEH-01 nurse."""
    return make.staff_headers(nurse)


@pytest.fixture
def other_staff(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    """Authorization headers of a TEH-02 nurse."""
    return make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
