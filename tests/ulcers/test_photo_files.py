"""Serving stored photos, the printable marker, and the photo commands and jobs."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import imaging
from backend.audit.models import AuditEvent
from backend.ulcers.models import PhotoAnalysis
from tests.factories import Factory
from tests.ulcers.helpers import synthetic, upload


def test_owner_and_site_staff_get_the_stored_image(
    client: FlaskClient,
    make: Factory,
    patient: dict[str, str],
    staff: dict[str, str],
    ulcer: dict[str, Any],
    photo_dir: Path,
) -> None:
    data, _ = synthetic(3)
    photo = upload(client, patient, ulcer["id"], data).json
    url = f"/api/v1/photos/{photo['id']}/image"
    [stored] = [p for p in photo_dir.rglob("*.jpg")]
    for headers in (patient, staff):
        response = client.get(url, headers=headers, buffered=True)  # closes the streamed file
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg" and response.data == stored.read_bytes()
        assert response.headers["Cache-Control"] == "no-store"
    drawn = client.get(url, query_string={"outline": "true"}, headers=staff, buffered=True)
    assert drawn.status_code == 200 and drawn.data != stored.read_bytes()
    with Image.open(io.BytesIO(drawn.data)) as image:
        assert image.size == (photo["width"], photo["height"])
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.get(url, headers=other_site).status_code == 404
    assert client.get(f"/api/v1/photos/{photo['id']}", headers=other_site).status_code == 404


@pytest.mark.parametrize("dpi", [300, 600])
def test_marker_png_is_at_exact_physical_size(client: FlaskClient, patient: dict[str, str], dpi: int) -> None:
    response = client.get("/api/v1/calibration-marker.png", query_string={"dpi": dpi}, headers=patient)
    assert response.status_code == 200 and response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as sheet:
        assert sheet.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)
        pixels = sheet.convert("RGB").load()
        blue = [
            (x, y) for y in range(0, sheet.height, 2) for x in range(0, sheet.width, 2) if pixels[x, y] == (20, 70, 200)
        ]
    side_px = max(x for x, _ in blue) - min(x for x, _ in blue) + 2  # sampled every 2nd pixel
    # 20 mm at dpi: 20 / 25.4 * dpi pixels (236.2 at 300 dpi), to within the sampling step.
    assert side_px / dpi * 25.4 == pytest.approx(20.0, abs=2 * 25.4 / dpi)


def test_marker_pdf_page_is_at_physical_size(client: FlaskClient, staff: dict[str, str]) -> None:
    response = client.get("/api/v1/calibration-marker.pdf", headers=staff)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    # The page is the sheet at 300 dpi: 80 mm wide, i.e. 80 / 25.4 * 72 = 226.8 points.
    match = re.search(rb"/MediaBox \[ ?0 0 ([0-9.]+) ([0-9.]+) ?\]", response.data)
    assert match is not None
    assert float(match.group(1)) == pytest.approx(80 / 25.4 * 72, abs=0.3)


def test_marker_needs_a_sign_in_and_a_sane_dpi(client: FlaskClient, patient: dict[str, str]) -> None:
    assert client.get("/api/v1/calibration-marker.png").status_code == 401
    too_fine = client.get("/api/v1/calibration-marker.png", query_string={"dpi": 100000}, headers=patient)
    assert too_fine.status_code == 422 and "dpi" in too_fine.json["errors"]["query"]


def test_reanalyse_adds_a_new_version_and_keeps_the_old(
    app: Flask,
    client: FlaskClient,
    db: Session,
    patient: dict[str, str],
    ulcer: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, _ = synthetic(3)
    photo = upload(client, patient, ulcer["id"], data).json
    runner = app.test_cli_runner()
    same = runner.invoke(args=["photos", "reanalyse", "--all"])
    assert same.exit_code == 0 and "0 analysed, 1 already had it" in same.output

    monkeypatch.setattr(imaging, "ALGORITHM_VERSION", "9.9.9")
    monkeypatch.setattr("backend.imaging.estimate.ALGORITHM_VERSION", "9.9.9")  # what results carry
    newer = runner.invoke(args=["photos", "reanalyse", "--since", "2026-03-01"])
    assert newer.exit_code == 0, newer.output
    assert "1 analysed" in newer.output
    versions = db.scalars(
        select(PhotoAnalysis.algorithm_version).where(PhotoAnalysis.photo_id == photo["id"]).order_by(PhotoAnalysis.id)
    ).all()
    assert versions[0] == photo["analysis"]["algorithm_version"] and len(versions) == 2
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "photo_analysis.create")).all()
    assert event.actor_type == "system" and event.participant_id == photo["participant_id"]
    shown = client.get(f"/api/v1/photos/{photo['id']}", headers=patient).json
    assert len(shown["analyses"]) == 2 and shown["analysis"] == shown["analyses"][-1]
    assert runner.invoke(args=["photos", "reanalyse"]).exit_code != 0  # --all or --since, on purpose


def test_orphan_sweep_removes_only_old_unreferenced_files(
    app: Flask, client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], photo_dir: Path
) -> None:
    data, _ = synthetic(3)
    upload(client, patient, ulcer["id"], data)
    [kept] = list(photo_dir.rglob("*.jpg"))
    orphan = photo_dir / "ab" / "00" / ("ab" + "0" * 62 + ".jpg")
    young = photo_dir / "ef" / "01" / ("ef" + "1" * 62 + ".jpg")
    dead_write = photo_dir / "ab" / "cd" / ".upload-x1"
    for file in (orphan, young, dead_write):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    for file in (orphan, dead_write, kept):
        os.utime(file, (two_hours_ago, two_hours_ago))

    result = app.test_cli_runner().invoke(args=["jobs", "run", "orphan-photos"])
    assert (result.exit_code, result.output) == (0, "orphan-photos: 1 files removed\n")
    assert kept.exists() and young.exists()
    assert not orphan.exists() and not dead_write.exists()
