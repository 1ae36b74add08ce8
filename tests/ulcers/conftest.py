"""Fixtures of the ulcer tests: a frozen clock, an enrolled participant with one ulcer,
her app, a nurse of her site."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.participants.models import Participant
from backend.participants.service import change_status
from backend.staff.models import StaffUser
from tests.factories import Factory
from tests.ulcers.helpers import DAY0, OWN_ULCERS, T0, ulcer_body


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def participant(make: Factory, db: Session, clock: time_machine.Traveller) -> Participant:
    """Enrolled at T0 - 1 day, day 0 on DAY0 (T0's local date is study day -7)."""
    participant = make.participant(day0_date=DAY0.isoformat())
    actor = Actor.system("test", study_id=participant.study_id)
    return change_status(db, actor, participant.id, "enrol", "eligible", T0 - timedelta(days=1))


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    return make.patient_headers(participant)


@pytest.fixture
def ulcer(client: FlaskClient, patient: dict[str, str]) -> dict[str, Any]:
    response = client.post(OWN_ULCERS, json=ulcer_body(), headers=patient)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def staff(make: Factory, nurse: StaffUser) -> dict[str, str]:
    return make.staff_headers(nurse)
