"""PostgreSQL cannot store NUL in text: such input is a clear 422 on every database,
before anything is written (it was a 500 on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.diary.models import PainScore
from tests.diary.helpers import NOW, Patient, enrolled_patient
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.mark.parametrize("note", ["before\x00after", "\x00"])
def test_a_nul_character_in_free_text_is_refused_and_nothing_is_written(
    make: Factory, db: Session, clock: time_machine.Traveller, note: str
) -> None:
    patient: Patient = enrolled_patient(make)

    response = patient.post_score(4, NOW, note=note)

    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_failed"
    assert "NUL" in response.json["message"]
    assert db.scalar(select(func.count()).select_from(PainScore)) == 0
    assert patient.post_score(4, NOW, note="fine").status_code == 201  # the session is usable after


def test_a_nul_in_a_staff_reason_is_refused(make: Factory, clock: time_machine.Traveller) -> None:
    patient = enrolled_patient(make)
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))

    response = make.client.patch(
        f"/api/v1/participants/{patient.id}", json={"reason": "typo\x00", "language": "en"}, headers=nurse
    )

    assert response.status_code == 422, response.json
