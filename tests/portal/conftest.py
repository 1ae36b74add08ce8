"""The portal's scene: a participant at TEH-01 with diaries, a walk, an ulcer with three
photos waiting for review, an urgent symptom report and missed diary days; a second
participant at TEH-02; staff of each kind. The suite's clock starts at ENROLLED and ends at NOW."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy.orm import Session

from backend.diary.service import scan_missed_diaries
from backend.staff.models import StaffUser
from tests.diary.helpers import Patient, enrolled_patient, tehran
from tests.factories import Factory
from tests.ulcers.helpers import synthetic, ulcer_body, upload

ENROLLED = datetime(2026, 2, 20, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)  # 09:30 in Tehran, study day 11 of a day 0 on 1 March


@dataclass
class Scene:
    patient: Patient
    other: Patient  # at TEH-02
    photos: list[int]
    nurse: StaffUser
    nurse_other_site: StaffUser
    monitor: StaffUser
    investigator: StaffUser


@pytest.fixture
def start_time() -> datetime:
    return ENROLLED


@pytest.fixture
def scene(make: Factory, db: Session, clock: time_machine.Traveller) -> Scene:
    patient = enrolled_patient(make, ENROLLED, day0_date="2026-03-01")
    other = enrolled_patient(make, ENROLLED, day0_date="2026-03-01", site_code="TEH-02", subject_code="TEH02-001")
    for day, score in (("2026-03-03", 7), ("2026-03-04", 6), ("2026-03-05", 6)):
        clock.move_to(tehran(day, "20:00"))
        assert patient.post_score(score, tehran(day, "20:00")).status_code == 201
    clock.move_to(tehran("2026-03-06", "18:00"))
    walk = {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": tehran("2026-03-06", "18:00").isoformat(),
        "method": "phone_gps",
        "distance_m": 240,
    }
    assert make.client.post("/api/v1/me/walk-tests", json=walk, headers=patient.headers).status_code == 201
    ulcer = make.client.post("/api/v1/me/ulcers", json=ulcer_body(), headers=patient.headers)
    assert ulcer.status_code == 201, ulcer.json
    photos = []
    for seed in (1, 2, 3):
        data, truth = synthetic(seed)  # tapped, as the app does: without an anchor there is no estimate
        response = upload(
            make.client, patient.headers, ulcer.json["id"], data, seed_x=truth.seed_px[0], seed_y=truth.seed_px[1]
        )
        assert response.status_code == 201, response.json
        photos.append(response.json["id"])
    severe = {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": tehran("2026-03-06", "18:00").isoformat(),
        "category": "fever",
        "severity": "severe",
        "onset_date": "2026-03-06",
    }
    assert make.client.post("/api/v1/me/symptoms", json=severe, headers=patient.headers).status_code == 201
    clock.move_to(NOW)
    assert scan_missed_diaries(db, NOW) >= 1  # 6 to 10 March without a score
    return Scene(
        patient,
        other,
        photos,
        make.staff("nurse", sites=("TEH-01",)),
        make.staff("nurse", sites=("TEH-02",)),
        make.staff("monitor", sites=("TEH-01",)),
        make.staff("investigator", sites=("TEH-01",)),
    )
