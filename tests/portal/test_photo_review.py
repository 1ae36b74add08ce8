"""The photo review page when the estimate is only a suggestion, and an outline a nurse
draws where there was none, through the portal's form."""

from __future__ import annotations

import io

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.ulcers.models import PhotoReview
from tests.imaging.scenes import Ulcer, render, similarity
from tests.portal.conftest import Scene
from tests.portal.helpers import signed_in
from tests.ulcers.helpers import upload

FLAT = similarity(5.0, 0.0, (100.0, 100.0))  # 5 px/mm, the marker at px (100, 100)-(200, 200)


def _photo(scene: Scene, app: Flask, wound: Ulcer | None, **fields: float) -> int:
    client, headers = app.test_client(), scene.patient.headers
    [ulcer] = client.get("/api/v1/me/ulcers", headers=headers).json
    out = io.BytesIO()
    render((800, 600), FLAT, wound).save(out, "JPEG", quality=92)
    response = upload(client, headers, ulcer["id"], out.getvalue(), **fields)
    assert response.status_code == 201, response.json
    photo_id: int = response.json["id"]
    return photo_id


def test_a_suggestion_shows_no_area_and_cannot_be_accepted(app: Flask, scene: Scene) -> None:
    photo_id = _photo(scene, app, Ulcer(centre_mm=(55.0, 45.0), radius_mm=12.0))  # no tap, no box
    browser = signed_in(app, scene.nurse)
    html = browser.text(browser.get(f"/portal/photos/{photo_id}"))
    assert "only a suggestion" in html and "needs outline" in html
    assert 'id="accept-form"' not in html
    assert 'id="draw-outline"' in html and 'id="correct-form"' in html


def test_a_nurse_draws_an_outline_through_the_form(app: Flask, scene: Scene, db: Session) -> None:
    photo_id = _photo(scene, app, None, seed_x=400, seed_y=330)  # the marker, no wound found
    drawn = "[[350, 300], [450, 300], [450, 360], [350, 360]]"  # 20 x 12 mm at 5 px/mm
    other = signed_in(app, scene.nurse_other_site)
    other.get("/portal/today")
    assert other.post(f"/portal/photos/{photo_id}/review", {"decision": "correct", "outline": drawn}).status_code == 404
    browser = signed_in(app, scene.nurse)
    browser.get(f"/portal/photos/{photo_id}")
    response = browser.post(f"/portal/photos/{photo_id}/review", {"decision": "correct", "outline": drawn})
    assert response.status_code == 302
    review = db.scalars(select(PhotoReview).where(PhotoReview.photo_id == photo_id)).one()
    assert review.area_px == 6000.0
    assert review.area_mm2 is not None and abs(review.area_mm2 - 240.0) < 240.0 * 0.02
