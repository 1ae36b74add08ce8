"""Fixtures of the diary tests: the clock at NOW and a patient's phone; `enrol` and the
nurse are the suite's."""

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
