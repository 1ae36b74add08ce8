"""Fixtures of the symptom report tests: a participant enrolled at T0 whose day 0 is today;
the clock, her app's headers and the nurse are the suite's."""

from __future__ import annotations

import pytest
import time_machine

from backend.participants.models import Participant
from tests.factories import Factory
from tests.symptoms.helpers import T0


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0, day 0 on T0's local date."""
    return make.enrolled(T0, day0_date="2026-03-02")
