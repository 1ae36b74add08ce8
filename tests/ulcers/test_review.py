"""The nurse's review queue, review decisions and the per-ulcer area history."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.participants.models import Participant
from backend.ulcers.models import PhotoAnalysis
from tests.factories import Factory
from tests.ulcers.helpers import REVIEW_QUEUE, synthetic, upload


def review_url(photo_id: int) -> str:
    return f"/api/v1/photos/{photo_id}/review"


def history_url(participant_id: int, ulcer_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/ulcers/{ulcer_id}/area-history"


def uploaded(
    client: FlaskClient, patient: dict[str, str], ulcer: dict[str, Any], seed: int = 3, **kw: Any
) -> dict[str, Any]:
    data, truth = synthetic(seed, **kw)
    response = upload(client, patient, ulcer["id"], data, seed_x=truth.seed_px[0], seed_y=truth.seed_px[1])
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def test_queue_lists_own_sites_unreviewed_photos_oldest_first(
    client: FlaskClient,
    make: Factory,
    patient: dict[str, str],
    staff: dict[str, str],
    ulcer: dict[str, Any],
    clock: Any,
) -> None:
    first = uploaded(client, patient, ulcer, 3)
    clock.shift(60)
    second = uploaded(client, patient, ulcer, 4)
    queue = client.get(REVIEW_QUEUE, headers=staff)
    assert [p["id"] for p in queue.json] == [first["id"], second["id"]]
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.get(REVIEW_QUEUE, headers=other_site).json == []
    client.post(review_url(first["id"]), json={"decision": "reject", "reject_reason": "blurred"}, headers=staff)
    assert [p["id"] for p in client.get(REVIEW_QUEUE, headers=staff).json] == [second["id"]]


def test_accept_makes_the_estimate_a_measurement(
    client: FlaskClient, db: Session, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    response = client.post(review_url(photo["id"]), json={"decision": "accept", "note": "good photo"}, headers=staff)
    assert response.status_code == 201, response.json
    assert response.json["review_status"] == "accepted"
    assert response.json["review"]["area_mm2"] == photo["analysis"]["area_mm2"]
    assert response.json["review"]["outline"] == photo["analysis"]["outline"]
    again = client.post(review_url(photo["id"]), json={"decision": "accept"}, headers=staff)
    assert again.status_code == 409
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "ulcer_photo.review")).all()
    assert event.reason == "good photo"


def test_accepting_an_estimate_that_changed_meanwhile_is_a_conflict(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    url = review_url(photo["id"])
    stale = client.post(url, json={"decision": "accept", "algorithm_version": "0.9.0"}, headers=staff)
    assert stale.status_code == 409 and "changed" in stale.json["message"]
    seen = photo["analysis"]["algorithm_version"]
    assert client.post(url, json={"decision": "accept", "algorithm_version": seen}, headers=staff).status_code == 201


def test_correction_is_measured_through_the_photo_homography(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    # The marker's own corners, as an outline, must measure the marker: 20 mm × 20 mm.
    corners = photo["analysis"]["marker_corners"]
    response = client.post(review_url(photo["id"]), json={"decision": "correct", "outline": corners}, headers=staff)
    assert response.status_code == 201, response.json
    assert response.json["review_status"] == "corrected"
    assert response.json["review"]["area_mm2"] == pytest.approx(400.0, rel=1e-6)


def test_review_input_is_checked(
    client: FlaskClient, db: Session, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    url = review_url(photo["id"])
    cases = [
        ({"decision": "reject"}, "reject_reason"),
        ({"decision": "accept", "reject_reason": "blurred"}, "reject_reason"),
        ({"decision": "correct"}, "outline"),
        ({"decision": "correct", "outline": [[1, 1], [2, 2]]}, "outline"),
        ({"decision": "correct", "outline": [[0, 0], [5000, 0], [0, 10]]}, "outline"),
        ({"decision": "correct", "outline": [[0, 0], [100, 100], [100, 0], [0, 100]]}, "outline"),
        ({"decision": "correct", "outline": [[0, 0], [10, 0], [5, 0], [5, 5]]}, "outline"),  # a folded spike
        ({"decision": "approve"}, "decision"),
    ]
    for body, field in cases:
        response = client.post(url, json=body, headers=staff)
        assert response.status_code == 422, body
        assert field in response.json["errors"]["json"], (body, response.json)
    assert client.get(f"/api/v1/photos/{photo['id']}", headers=staff).json["review"] is None


def test_a_correction_beyond_the_skin_plane_horizon_is_refused(
    client: FlaskClient, db: Session, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    # Make this photo's plane strongly tilted: its horizon (w = 0) is the line x = 600.
    analysis = db.scalars(select(PhotoAnalysis).where(PhotoAnalysis.photo_id == photo["id"])).one()
    analysis.homography = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1 / 600, 0.0, 1.0]]
    analysis.marker_corners = [[100.0, 100.0], [150.0, 100.0], [150.0, 150.0], [100.0, 150.0]]
    db.commit()
    beyond = [[500.0, 100.0], [700.0, 100.0], [700.0, 200.0], [500.0, 200.0]]
    response = client.post(review_url(photo["id"]), json={"decision": "correct", "outline": beyond}, headers=staff)
    assert response.status_code == 422 and "outline" in response.json["errors"]["json"]


def test_a_photo_without_marker_can_only_be_rejected(
    client: FlaskClient, patient: dict[str, str], staff: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer, 5, with_marker=False)
    url = review_url(photo["id"])
    accept = client.post(url, json={"decision": "accept"}, headers=staff)
    correct = client.post(url, json={"decision": "correct", "outline": [[10, 10], [50, 10], [30, 40]]}, headers=staff)
    assert accept.status_code == correct.status_code == 422
    reject = client.post(url, json={"decision": "reject", "reject_reason": "no_marker"}, headers=staff)
    assert reject.status_code == 201 and reject.json["review"]["area_mm2"] is None


def test_only_managing_staff_of_the_site_review(
    client: FlaskClient, make: Factory, patient: dict[str, str], ulcer: dict[str, Any]
) -> None:
    photo = uploaded(client, patient, ulcer)
    body = {"decision": "reject", "reject_reason": "other"}
    assert client.post(review_url(photo["id"]), json=body, headers=patient).status_code == 403
    monitor = make.staff_headers(make.staff("monitor", sites=("TEH-01",)))
    assert client.post(review_url(photo["id"]), json=body, headers=monitor).status_code == 403
    other_site = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))
    assert client.post(review_url(photo["id"]), json=body, headers=other_site).status_code == 404


def test_area_history_reviewed_provisional_and_closure(
    client: FlaskClient, make: Factory, participant: Participant, nurse: Any, ulcer: dict[str, Any], clock: Any
) -> None:
    def week_later() -> tuple[dict[str, str], dict[str, str]]:
        clock.shift(7 * 86400)  # tokens expire meanwhile: sign in again
        return make.patient_headers(participant), make.staff_headers(nurse)

    patient, staff = make.patient_headers(participant), make.staff_headers(nurse)
    baseline = uploaded(client, patient, ulcer, 3)
    corners = baseline["analysis"]["marker_corners"]
    # The baseline "ulcer" is corrected to the marker square: exactly 400 mm².
    client.post(review_url(baseline["id"]), json={"decision": "correct", "outline": corners}, headers=staff)
    patient, staff = week_later()
    later = uploaded(client, patient, ulcer, 4)
    patient, staff = week_later()
    rejected = uploaded(client, patient, ulcer, 6)
    client.post(review_url(rejected["id"]), json={"decision": "reject", "reject_reason": "blurred"}, headers=staff)
    closure = client.post(
        f"/api/v1/participants/{participant.id}/ulcers/{ulcer['id']}/closures",
        json={"observed_on": "2026-03-16"},
        headers=staff,
    )
    assert closure.status_code == 201

    history = client.get(history_url(participant.id, ulcer["id"]), headers=staff).json
    points = history["points"]
    assert [(p["source"], p["local_date"], p["reviewed"]) for p in points] == [
        ("photo", "2026-03-02", True),
        ("photo", "2026-03-09", False),
        ("closure", "2026-03-16", True),
    ]
    assert points[0]["area_mm2"] == pytest.approx(400.0) and points[0]["percent_change"] == 0.0
    assert points[1]["photo_id"] == later["id"] and points[1]["percent_change"] is None
    assert points[2]["area_mm2"] == 0.0 and points[2]["percent_change"] == -100.0
    assert history["baseline"]["photo_id"] == baseline["id"]
    assert [p["study_day"] for p in points] == [-7, 0, 7]


def test_moving_day_0_restamps_the_study_day_of_photos(
    client: FlaskClient, participant: Participant, patient: dict[str, str], ulcer: dict[str, Any], staff: dict[str, str]
) -> None:
    photo = uploaded(client, patient, ulcer, 3)
    assert photo["study_day"] == -7  # photographed on 2 March, day 0 on the 9th

    moved = client.patch(
        f"/api/v1/participants/{participant.id}",
        json={"day0_date": "2026-03-02", "reason": "first injection brought forward"},
        headers=staff,
    )

    assert moved.status_code == 200, moved.json
    assert client.get(f"/api/v1/photos/{photo['id']}", headers=staff).json["study_day"] == 0
    points = client.get(history_url(participant.id, ulcer["id"]), headers=staff).json["points"]
    assert [(p["photo_id"], p["study_day"]) for p in points] == [(photo["id"], 0)]
