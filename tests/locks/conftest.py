"""Fixtures of the data lock tests: a participant enrolled before her baseline window with
day 0 on DAY0, the headers of a nurse of her site and of a study admin; the clock at T0
and the participant's app headers are the suite's."""

from __future__ import annotations

import pytest
import time_machine

from backend.participants.models import Participant
from tests.factories import Factory
from tests.locks.helpers import DAY0, ENROLLED_AT


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """At TEH-01, day 0 on DAY0, enrolled at ENROLLED_AT, in Asia/Tehran."""
    return make.enrolled(ENROLLED_AT, day0_date=DAY0.isoformat())


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    """Authorization headers of a TEH-01 nurse (here the headers, not the account)."""
    return make.staff_headers(make.staff("nurse", sites=("TEH-01",)))


@pytest.fixture
def admin(make: Factory, clock: time_machine.Traveller) -> dict[str, str]:
    return make.staff_headers(make.staff("admin"))
