"""Fixtures of the diary tests: a clock frozen at NOW, enrolled patients, a nurse."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from backend.staff.models import StaffUser
from tests.diary.helpers import NOW, Patient, enrolled_patient
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at NOW; tests move it with `clock.move_to(...)`."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enrol(make: Factory, clock: time_machine.Traveller) -> Callable[..., Patient]:
    """Build an enrolled patient: `enrol(enrolled_at=..., timezone=..., day0_date=...)`."""

    def build(**overrides: Any) -> Patient:
        return enrolled_patient(make, **overrides)

    return build


@pytest.fixture
def patient(enrol: Callable[..., Patient]) -> Patient:
    """A Tehran participant enrolled on 20 February, day 0 on 1 March."""
    return enrol()


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    return make.staff("nurse", sites=("TEH-01",))
