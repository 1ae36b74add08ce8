"""Fixtures of the walk test tests: a participant whose day 0 is a week away (so today is
study day -7, inside the baseline window); the clock, her app's headers and the nurse are
the suite's."""

from __future__ import annotations

import pytest
import time_machine

from backend.participants.models import Participant
from tests.factories import Factory
from tests.walks.helpers import DAY0, T0


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0, day 0 on DAY0 (so T0's local date is study day -7)."""
    return make.enrolled(T0, day0_date=DAY0.isoformat())
