"""The tap and the box that anchor an upload's measurement, several ulcers in one photo,
and what the answer tells the app (status, retake reasons)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import ImageDraw
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.ulcers.models import PhotoAnalysis, UlcerPhoto
from tests.imaging.scenes import GRANULATION, Ulcer, render, similarity
from tests.ulcers.helpers import OWN_ULCERS, ulcer_body, upload

# 5 px/mm, the marker's blue square at px (100, 100)-(200, 200), its sticker 75-225.
FLAT = similarity(5.0, 0.0, (100.0, 100.0))
# Wound A: centre (55, 45) mm -> (375, 325) px, radius 12 mm = 60 px.
WOUND_A = Ulcer(centre_mm=(55.0, 45.0), radius_mm=12.0, erythema_mm=5.0)
TAP_A = (375.0, 325.0)
# Wound B, painted on: a 40 px disc centred at (650, 470) px, well apart from A.
TAP_B = (650.0, 470.0)
ON_MARKER = (150.0, 150.0)


@cache
def two_wounds() -> bytes:
    image = render((800, 600), FLAT, WOUND_A)
    ImageDraw.Draw(image).ellipse((610, 430, 690, 510), fill=GRANULATION)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def found_nothing(db: Session, photo_id: int) -> None:
    """Make the photo's analysis what the estimator says when it finds the marker and no wound."""
    analysis = db.scalars(select(PhotoAnalysis).where(PhotoAnalysis.photo_id == photo_id)).one()
    analysis.status, analysis.outline, analysis.area_px, analysis.area_mm2 = "ulcer_not_found", None, None, None
    db.commit()


def photo_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(UlcerPhoto)) or 0


def stored(photo_dir: Path) -> list[Path]:
    return [p for p in photo_dir.rglob("*") if p.is_file()]


def second_ulcer(client: FlaskClient, patient: dict[str, str]) -> dict[str, Any]:
    response = client.post(OWN_ULCERS, json=ulcer_body(label="B"), headers=patient)
    assert response.status_code == 201
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def test_a_box_with_the_tap_is_kept_and_the_answer_says_whether_to_retake(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    box = "[290, 240, 460, 410]"  # wound A (315-435 x 265-385) with a margin
    response = upload(client, patient, ulcer["id"], two_wounds(), seed_x=TAP_A[0], seed_y=TAP_A[1], box=box)
    assert response.status_code == 201, response.json
    photo = response.json
    assert photo["patient_box"] == [290.0, 240.0, 460.0, 410.0]
    analysis = photo["analysis"]
    assert analysis["status"] in ("ok", "low_quality") and analysis["retake"] == []
    # How well the outline fits is the estimator's to measure (bench/ulcer_real.py); here: it
    # holds the tap, stays in the box, and has an area in mm².
    xs, ys = [x for x, _ in analysis["outline"]], [y for _, y in analysis["outline"]]
    assert min(xs) < TAP_A[0] < max(xs) and min(ys) < TAP_A[1] < max(ys)
    assert 290 <= min(xs) < max(xs) <= 460 and 240 <= min(ys) < max(ys) <= 410  # inside the box
    assert analysis["area_mm2"] > 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"box": "[300, 300, 300, 400]"}, "box"),  # no width
        ({"box": "[300, 400, 350, 300]"}, "box"),  # upside down
        ({"box": "[300, 300, 350]"}, "box"),  # three numbers
        ({"box": "[-5, 300, 350, 400]"}, "box"),  # a negative corner
        ({"box": "[900, 700, 1000, 800]"}, "box"),  # outside the 800x600 photo
        ({"seed_x": TAP_A[0], "seed_y": TAP_A[1], "box": "[500, 400, 700, 550]"}, "box"),  # without the tap
        ({"seed_x": ON_MARKER[0], "seed_y": ON_MARKER[1]}, "seed_x"),  # the tap on the marker
        ({"seed_x": 800, "seed_y": 10}, "seed_x"),  # just outside
    ],
)
def test_anchors_that_cannot_be_right_are_refused_and_nothing_is_written(
    client: FlaskClient,
    patient: dict[str, str],
    ulcer: dict[str, Any],
    db: Session,
    photo_dir: Path,
    fields: dict[str, Any],
    field: str,
) -> None:
    response = upload(client, patient, ulcer["id"], two_wounds(), **fields)
    assert response.status_code == 422, response.json
    assert response.json["status"] == 422  # the standard envelope
    assert field in response.json["errors"]["files"]
    assert photo_count(db) == 0 and stored(photo_dir) == []


def test_without_an_anchor_the_outline_is_a_suggestion_without_mm2(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    response = upload(client, patient, ulcer["id"], two_wounds())
    assert response.status_code == 201
    analysis = response.json["analysis"]
    assert analysis["status"] == "needs_outline"
    assert analysis["area_mm2"] is None and analysis["homography"] is not None
    history = client.get(
        f"/api/v1/participants/{response.json['participant_id']}/ulcers/{ulcer['id']}/area-history", headers=staff
    )
    assert history.status_code == 200 and history.json["points"] == []  # no estimate to show
    accept = client.post(f"/api/v1/photos/{response.json['id']}/review", json={"decision": "accept"}, headers=staff)
    assert accept.status_code == 422


def test_two_ulcers_in_one_photo_are_two_uploads_of_the_same_image(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    other = second_ulcer(client, patient)
    a = upload(client, patient, ulcer["id"], two_wounds(), seed_x=TAP_A[0], seed_y=TAP_A[1])
    b = upload(client, patient, other["id"], two_wounds(), seed_x=TAP_B[0], seed_y=TAP_B[1])
    assert a.status_code == 201 and b.status_code == 201, (a.json, b.json)
    assert len(stored(photo_dir)) == 1  # one image, stored once
    xs_a = [x for x, _ in a.json["analysis"]["outline"]]
    xs_b = [x for x, _ in b.json["analysis"]["outline"]]
    assert max(xs_a) < 500 < min(xs_b)  # each tap found its own wound


def test_two_taps_in_one_wound_are_refused(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], db: Session, photo_dir: Path
) -> None:
    other = second_ulcer(client, patient)
    first = upload(client, patient, ulcer["id"], two_wounds(), seed_x=TAP_A[0], seed_y=TAP_A[1])
    assert first.status_code == 201
    again = upload(client, patient, other["id"], two_wounds(), seed_x=TAP_A[0] + 20, seed_y=TAP_A[1] - 15)
    assert again.status_code == 409, again.json
    assert "seed_x" in again.json["errors"]["files"]
    assert photo_count(db) == 1
    # The same wound for the same ulcer again is a new photo of it, not a conflict.
    same_ulcer = upload(client, patient, ulcer["id"], two_wounds(), seed_x=TAP_A[0] + 20, seed_y=TAP_A[1] - 15)
    assert same_ulcer.status_code == 201


def test_a_nurse_draws_an_outline_where_none_was_found(
    client: FlaskClient, make: Any, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any], db: Session
) -> None:
    photo = upload(client, patient, ulcer["id"], two_wounds(), seed_x=TAP_A[0], seed_y=TAP_A[1]).json
    assert photo["analysis"]["homography"] is not None
    found_nothing(db, photo["id"])
    url = f"/api/v1/photos/{photo['id']}/review"
    # 100 x 60 px at 5 px/mm: 20 x 12 mm = 240 mm².
    drawn = [[300, 300], [400, 300], [400, 360], [300, 360]]
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.post(url, json={"decision": "correct", "outline": drawn}, headers=other_site).status_code == 404
    assert client.post(url, json={"decision": "correct", "outline": drawn}, headers=patient).status_code == 403
    crossing = [[300, 300], [400, 360], [400, 300], [300, 360]]
    refused = client.post(url, json={"decision": "correct", "outline": crossing}, headers=staff)
    assert refused.status_code == 422 and "outline" in refused.json["errors"]["json"]
    response = client.post(url, json={"decision": "correct", "outline": drawn}, headers=staff)
    assert response.status_code == 201, response.json
    review = response.json["review"]
    assert review["area_px"] == 6000.0
    assert review["area_mm2"] == pytest.approx(240.0, rel=0.02)
    assert response.json["review_status"] == "corrected"


def test_without_the_marker_the_answer_asks_for_a_retake_and_gives_no_mm2(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    out = io.BytesIO()
    render((800, 600), FLAT, WOUND_A, marker=False).save(out, "JPEG", quality=92)
    response = upload(client, patient, ulcer["id"], out.getvalue(), seed_x=TAP_A[0], seed_y=TAP_A[1])
    assert response.status_code == 201
    analysis = response.json["analysis"]
    assert analysis["status"] == "no_marker" and analysis["area_mm2"] is None
    assert analysis["retake"] == ["no_marker"]
