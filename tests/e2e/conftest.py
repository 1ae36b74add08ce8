"""End-to-end: the app served on 127.0.0.1 by a real HTTP server in a thread, on a
database of its own (the server's connections must see committed data), and Debian's
Chromium driven by Playwright. Screenshots go to test-artifacts/portal/.

.ci/run installs Chromium and sets LIMBTRACK_REQUIRE_BROWSER, so CI never skips these; on
a laptop without Chromium they are skipped with the reason."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import BaseWSGIServer, make_server

from backend.app import create_app
from backend.db import Database
from backend.staff.models import StaffUser
from tests.conftest import test_config
from tests.diary.helpers import Patient, enrolled_patient
from tests.factories import Factory
from tests.ulcers.helpers import synthetic, ulcer_body, upload

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
TEHRAN = ZoneInfo("Asia/Tehran")

if not Path(CHROMIUM).exists():
    if os.environ.get("LIMBTRACK_REQUIRE_BROWSER"):
        raise RuntimeError(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it", allow_module_level=True)


@dataclass
class Site:
    url: str
    app: Flask
    make: Factory
    patient: Patient
    nurse: StaffUser
    photos: list[int]


@pytest.fixture
def site(own_engine: Engine, tmp_path: Path) -> Iterator[Site]:
    """A participant 25 days into follow-up with a diary, walks, an urgent symptom report
    and three photos waiting for review, a nurse of her site; the app served over HTTP."""
    factory = sessionmaker(own_engine, expire_on_commit=False)
    config = test_config(photo_storage_dir=tmp_path / "photos", trial_database_url=f"sqlite:///{tmp_path / 't.db'}")
    app = create_app(config, Database(own_engine, factory))
    now = datetime.now(UTC)
    day0 = (now.astimezone(TEHRAN) - timedelta(days=25)).date()
    with factory() as session:
        make = Factory(session, app, app.test_client())
        enrolled_at = now - timedelta(days=40)
        patient = enrolled_patient(make, enrolled_at, day0_date=day0.isoformat())
        for days_ago, score in ((20, 7), (19, 7), (18, 6), (12, 5), (8, 5), (5, 4), (2, 4)):
            moment = now - timedelta(days=days_ago)
            with time_machine.travel(moment, tick=False):
                assert patient.post_score(score, moment.astimezone(TEHRAN)).status_code == 201
                if days_ago in (20, 8):
                    walk = {
                        "client_uuid": str(uuid.uuid4()),
                        "recorded_at": moment.astimezone(TEHRAN).isoformat(),
                        "method": "phone_gps",
                        "distance_m": 220 if days_ago == 20 else 265,
                    }
                    assert (
                        make.client.post("/api/v1/me/walk-tests", json=walk, headers=patient.headers).status_code == 201
                    )
        patient = Patient(make, patient.participant)  # a fresh token at today's time
        ulcer = make.client.post("/api/v1/me/ulcers", json=ulcer_body(), headers=patient.headers)
        assert ulcer.status_code == 201, ulcer.json
        photos = []
        for seed in (4, 5, 6):
            data, truth = synthetic(seed)  # tapped, as the app does: without an anchor there is no estimate
            response = upload(
                make.client, patient.headers, ulcer.json["id"], data, seed_x=truth.seed_px[0], seed_y=truth.seed_px[1]
            )
            assert response.status_code == 201, response.json
            photos.append(int(response.json["id"]))
        severe = {
            "client_uuid": str(uuid.uuid4()),
            "recorded_at": now.astimezone(TEHRAN).isoformat(),
            "category": "wound_new_or_infected",
            "severity": "severe",
            "onset_date": now.astimezone(TEHRAN).date().isoformat(),
        }
        assert make.client.post("/api/v1/me/symptoms", json=severe, headers=patient.headers).status_code == 201
        nurse = make.staff("nurse", sites=("TEH-01",))
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Site(f"http://127.0.0.1:{server.server_port}", app, make, patient, nurse, photos)
        finally:
            server.shutdown()
            thread.join(timeout=10)
