"""The offline batch (POST /me/sync) through the API: each item is created, a duplicate or
refused on its own, so one bad item never loses the others; a re-sent batch creates
nothing; an offline week arrives late but on its own days; malformed batches are refused
whole and write nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.participants.models import Participant
from tests.factories import Factory
from tests.mobile_sync.helpers import FLAGS, PAIN, SYMPTOMS, SYNC, T0, WALKS, pain, row_counts, symptom, walk


def error_fields(result: dict[str, Any]) -> set[str]:
    """The field names a refused item's errors mention, whatever location they are under."""
    return {field for by_field in result["errors"].values() for field in by_field}


def sync(client: FlaskClient, patient: dict[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(SYNC, json={"items": items}, headers=patient)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    return body


def test_a_mixed_batch_gets_one_result_per_item(
    client: FlaskClient, patient: dict[str, str], db: Session, participant: Participant
) -> None:
    earlier = walk(distance_m=380)
    earlier_id = client.post(WALKS, json=earlier["data"], headers=patient).json["id"]
    items = [
        pain(score=3),
        walk(distance_m=420),
        symptom(severity="moderate"),
        pain(score=11),  # out of range
        symptom(recorded_at=T0 + timedelta(minutes=10)),  # ten minutes in the future
        earlier,  # sent before the phone lost its connection
    ]
    before = row_counts(db)
    body = sync(client, patient, items)

    assert (body["created"], body["duplicate"], body["refused"]) == (3, 1, 2)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r["kind"] for r in results] == [item["kind"] for item in items]
    assert [r["client_uuid"] for r in results] == [item["data"]["client_uuid"] for item in items]
    assert [r["status"] for r in results] == ["created", "created", "created", "refused", "refused", "duplicate"]
    assert results[5]["id"] == earlier_id
    assert (results[3]["code"], error_fields(results[3])) == ("unprocessable_entity", {"score"})
    assert (results[4]["code"], error_fields(results[4])) == ("validation_failed", {"recorded_at"})
    assert "id" not in results[3] and "id" not in results[4]

    # The three valid items are stored, whatever happened to the others.
    [score] = client.get(PAIN, headers=patient).json
    assert (score["id"], score["score"], score["diary_date"]) == (results[0]["id"], 3, "2026-03-02")
    walks = client.get(WALKS, headers=patient).json
    assert sorted(w["id"] for w in walks) == sorted([results[1]["id"], earlier_id])
    [report] = client.get(SYMPTOMS, headers=patient).json
    assert (report["id"], report["category"], report["severity"]) == (results[2]["id"], "swelling", "moderate")
    after = row_counts(db)
    assert (after["PainScore"], after["WalkTest"], after["SymptomReport"]) == (
        before["PainScore"] + 1,
        before["WalkTest"] + 1,
        before["SymptomReport"] + 1,
    )
    assert after["Flag"] == before["Flag"] + 1  # the symptom's

    # The phone did not hear back and sends the whole batch again.
    again = sync(client, patient, items)
    assert (again["created"], again["duplicate"], again["refused"]) == (0, 4, 2)
    assert [r["status"] for r in again["results"]] == [
        "duplicate",
        "duplicate",
        "duplicate",
        "refused",
        "refused",
        "duplicate",
    ]
    assert [r.get("id") for r in again["results"]] == [r.get("id") for r in results]
    assert row_counts(db) == after


def test_an_offline_week_arrives_late_on_its_own_days(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller, db: Session
) -> None:
    now = T0 + timedelta(days=7)  # 2026-03-09, 12:30 in Tehran
    clock.move_to(now)
    patient = make.patient_headers(participant)
    items = [
        pain(now - timedelta(days=6), score=4),
        pain(now - timedelta(days=5), score=5, diary_date="2026-03-04"),
        walk(now - timedelta(days=5), distance_m=350),
        pain(now - timedelta(days=4), score=4),
        symptom(now - timedelta(days=4), onset_date="2026-03-05"),
        pain(now - timedelta(days=3), score=3, diary_date="2026-03-06"),
    ]
    body = sync(client, patient, items)
    assert (body["created"], body["duplicate"], body["refused"]) == (6, 0, 0)

    scores = client.get(PAIN, headers=patient).json
    assert [(s["diary_date"], s["study_day"], s["score"], s["late_entry"]) for s in scores] == [
        ("2026-03-06", 4, 3, True),
        ("2026-03-05", 3, 4, True),
        ("2026-03-04", 2, 5, True),
        ("2026-03-03", 1, 4, True),
    ]
    assert all(s["received_at"] == "2026-03-09T09:00:00+00:00" for s in scores)
    [walk_test] = client.get(WALKS, headers=patient).json
    assert (walk_test["local_date"], walk_test["study_day"], walk_test["late_entry"]) == ("2026-03-04", 2, True)
    [report] = client.get(SYMPTOMS, headers=patient).json
    assert (report["local_date"], report["study_day"], report["late_entry"]) == ("2026-03-05", 3, True)

    staff = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    late = client.get(FLAGS, query_string={"kind": "late_entry"}, headers=staff).json
    by_entity = sorted((f["entity_type"], f["detail"]["recorded_at"]) for f in late)
    assert by_entity == [
        ("pain_score", "2026-03-03T09:00:00+00:00"),
        ("pain_score", "2026-03-04T09:00:00+00:00"),
        ("pain_score", "2026-03-05T09:00:00+00:00"),
        ("pain_score", "2026-03-06T09:00:00+00:00"),
        ("symptom_report", "2026-03-05T09:00:00+00:00"),
        ("walk_test", "2026-03-04T09:00:00+00:00"),
    ]
    [symptom_flag] = client.get(FLAGS, query_string={"kind": "symptom"}, headers=staff).json
    assert symptom_flag["detail"]["late_entry"] is True


def test_the_same_item_twice_in_one_batch_is_created_once(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    item = walk()
    before = row_counts(db)
    body = sync(client, patient, [item, item])
    assert [r["status"] for r in body["results"]] == ["created", "duplicate"]
    assert body["results"][0]["id"] == body["results"][1]["id"]
    assert row_counts(db)["WalkTest"] == before["WalkTest"] + 1


def test_a_reused_client_uuid_with_other_content_is_refused_in_a_batch(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    item = walk(distance_m=400)
    changed = {"kind": "walk_test", "data": {**item["data"], "distance_m": 410}}
    body = sync(client, patient, [item, changed])
    assert [r["status"] for r in body["results"]] == ["created", "refused"]
    assert error_fields(body["results"][1]) == {"client_uuid"}
    [stored] = client.get(WALKS, headers=patient).json
    assert stored["distance_m"] == 400.0


def test_500_items_are_accepted_and_501_refused_whole(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    before = row_counts(db)
    # 500 items, each refused on its own (score 11) so that nothing is written either way.
    body = sync(client, patient, [pain(score=11) for _ in range(500)])
    assert (body["created"], body["refused"], len(body["results"])) == (0, 500, 500)

    too_many = [pain(score=n % 11) for n in range(501)]
    response = client.post(SYNC, json={"items": too_many}, headers=patient)
    assert response.status_code == 422
    assert "items" in response.json["errors"]["json"]
    assert row_counts(db) == before


def test_an_unknown_kind_refuses_the_whole_batch(client: FlaskClient, patient: dict[str, str], db: Session) -> None:
    before = row_counts(db)
    items = [pain(), {"kind": "ulcer_photo", "data": {"client_uuid": "x"}}]
    response = client.post(SYNC, json={"items": items}, headers=patient)
    assert response.status_code == 422
    assert "kind" in response.json["errors"]["json"]["items"]["1"]
    assert row_counts(db) == before


def test_malformed_batches_are_refused_and_write_nothing(
    client: FlaskClient, patient: dict[str, str], db: Session
) -> None:
    before = row_counts(db)
    for batch in (
        {"items": []},
        {},
        {"items": [{"kind": "pain_score"}]},
        {"items": [{"kind": "pain_score", "data": [1, 2]}]},
        {"items": [{**pain(), "extra": True}]},
    ):
        response = client.post(SYNC, json=batch, headers=patient)
        assert response.status_code == 422, batch
    assert row_counts(db) == before


def test_a_participant_not_yet_enrolled_has_every_item_refused(
    client: FlaskClient, make: Factory, db: Session, clock: time_machine.Traveller
) -> None:
    screening = make.participant()
    patient = make.patient_headers(screening)
    before = row_counts(db)
    body = sync(client, patient, [pain(), walk(), symptom()])
    assert (body["created"], body["refused"]) == (0, 3)
    assert row_counts(db) == before


def test_staff_cannot_sync(client: FlaskClient, staff: dict[str, str]) -> None:
    response = client.post(SYNC, json={"items": [pain()]}, headers=staff)
    assert response.status_code == 403
