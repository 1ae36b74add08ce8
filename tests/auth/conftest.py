"""Fixtures of the authentication tests: a participant (not enrolled); the clock at T0
and the nurse are the suite's."""

from __future__ import annotations

import pytest

from backend.participants.models import Participant
from tests.factories import Factory


@pytest.fixture
def participant(make: Factory) -> Participant:
    return make.participant()
