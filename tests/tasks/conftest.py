"""Fixtures of the home-screen tests: the clock at NOW (20:30 on 5 March in Tehran, study
day 4) and a patient's phone; `enrol` is the suite's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tests.diary.helpers import NOW, Patient


@pytest.fixture
def start_time() -> datetime:
    return NOW


@pytest.fixture
def patient(enrol: Callable[..., Patient]) -> Patient:
    """A Tehran participant enrolled on 20 February, day 0 on 1 March."""
    return enrol()
