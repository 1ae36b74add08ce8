"""Fixtures of the flag queue tests: one participant enrolled at T0 at each of the two
Tehran sites with her app, and the TEH-02 nurse; the clock, the TEH-01 nurse and the
first participant's app headers are the suite's."""

from __future__ import annotations

import pytest
import time_machine

from backend.participants.models import Participant
from tests.factories import Factory
from tests.flags.helpers import T0


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at TEH-01 at T0."""
    return make.enrolled(T0, site_code="TEH-01", subject_code="TEH01-001")


@pytest.fixture
def other_participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at TEH-02 at T0."""
    return make.enrolled(T0, site_code="TEH-02", subject_code="TEH02-001")


@pytest.fixture
def other_patient(make: Factory, other_participant: Participant) -> dict[str, str]:
    return make.patient_headers(other_participant)


@pytest.fixture
def other_staff(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    """Authorization headers of a TEH-02 nurse."""
    return make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
