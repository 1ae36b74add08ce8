"""Fixtures of the ulcer tests: a participant with one ulcer; the clock, her app's headers
and the nurse are the suite's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient

from backend.participants.models import Participant
from tests.factories import Factory
from tests.ulcers.helpers import DAY0, OWN_ULCERS, T0, ulcer_body


@pytest.fixture
def participant(make: Factory, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0 - 1 day, day 0 on DAY0 (T0's local date is study day -7)."""
    return make.enrolled(T0 - timedelta(days=1), day0_date=DAY0.isoformat())


@pytest.fixture
def ulcer(client: FlaskClient, patient: dict[str, str]) -> dict[str, Any]:
    response = client.post(OWN_ULCERS, json=ulcer_body(), headers=patient)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body
