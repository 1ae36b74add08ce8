"""Fixtures of the home-screen tests: a clock frozen at NOW and enrolled patients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from tests.diary.helpers import NOW, Patient, enrolled_patient
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at NOW (20:30 on 5 March in Tehran, study day 4)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enrol(make: Factory, clock: time_machine.Traveller) -> Callable[..., Patient]:
    """Build an enrolled patient: `enrol(enrolled_at=..., day0_date=...)`."""

    def build(**overrides: Any) -> Patient:
        return enrolled_patient(make, **overrides)

    return build


@pytest.fixture
def patient(enrol: Callable[..., Patient]) -> Patient:
    """A Tehran participant enrolled on 20 February, day 0 on 1 March."""
    return enrol()
