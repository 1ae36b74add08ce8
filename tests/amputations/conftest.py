"""Fixtures of the amputation event tests: a participant enrolled the day before T0
(consent 2026-01-10); the clock, the nurse and her headers are the suite's."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from backend.participants.models import Participant
from tests.amputations.helpers import T0
from tests.factories import Factory


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0 - 1 day, target leg right, in Asia/Tehran."""
    return make.enrolled(T0 - timedelta(days=1))
