"""Fixtures of the authentication tests: a frozen clock, a nurse, a participant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine

from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.auth.helpers import T0
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at T0; tests move it with `clock.shift(...)`/`clock.move_to(...)`."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def nurse(make: Factory) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def participant(make: Factory) -> Participant:
    return make.participant()
