"""One current score per diary day, and corrections as new versions: the original stays
readable, patients correct their own within 24 hours, staff with a reason at any time."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.diary import service as diary_service
from backend.staff.models import StaffUser
from tests.conftest import CountQueries
from tests.diary.helpers import Patient, field_errors, participant_url, tehran
from tests.factories import Factory

EVENING = tehran("2026-03-05", "20:00")  # 16:30 UTC, half an hour before NOW


def staff_correction_url(patient: Patient, score_id: int) -> str:
    return participant_url(patient.id, f"/pain-scores/{score_id}/corrections")


# --- one current score per day ---------------------------------------------------------


def test_the_later_of_two_scores_of_a_day_is_current(patient: Patient) -> None:
    first = patient.post_score(3, tehran("2026-03-05", "19:00")).json
    second = patient.post_score(5, tehran("2026-03-05", "20:00")).json

    assert [(s["id"], s["score"]) for s in patient.scores()] == [(second["id"], 5)]
    versions = {s["id"]: s for s in patient.scores(include_superseded="true")}
    assert list(versions) == [second["id"], first["id"]]  # latest recorded first
    assert versions[first["id"]]["is_current"] is False
    assert versions[first["id"]]["superseded_by_id"] == second["id"]
    assert versions[first["id"]]["score"] == 3  # superseded, never overwritten
    assert versions[second["id"]]["is_current"] is True
    assert versions[second["id"]]["superseded_by_id"] is None


def test_a_score_racing_another_of_the_same_day_is_filed_after_it(
    patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests read the day before either writes: the second INSERT meets the day's
    unique "current" slot. It reads again and supersedes the first instead of a 500."""
    first = patient.post_score(3, tehran("2026-03-05", "19:00")).json
    real_read = diary_service._nearby_scores
    reads: list[int] = []

    def read_before_the_other_committed(*args: Any) -> Any:
        reads.append(1)
        nearby, new_id = real_read(*args)
        return ([] if len(reads) == 1 else nearby), new_id

    monkeypatch.setattr(diary_service, "_nearby_scores", read_before_the_other_committed)
    second = patient.post_score(5, tehran("2026-03-05", "20:00"))

    assert second.status_code == 201, second.json
    assert len(reads) == 2
    versions = {s["id"]: s for s in patient.scores(include_superseded="true")}
    assert versions[first["id"]]["superseded_by_id"] == second.json["id"]
    assert [s["score"] for s in patient.scores()] == [5]


def test_a_version_superseded_meanwhile_keeps_its_first_successor(
    patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request read the day while another was superseding its current score: the write
    that would supersede that version a second time fails as a whole (the new score meets
    the day's current one) and the request files after the other, reading again."""
    real_read = diary_service._nearby_scores
    seen: list[Any] = []

    def remember(*args: Any) -> Any:
        seen.append(real_read(*args))
        return seen[-1]

    monkeypatch.setattr(diary_service, "_nearby_scores", remember)
    first = patient.post_score(3, tehran("2026-03-05", "18:00")).json
    second = patient.post_score(4, tehran("2026-03-05", "19:00")).json
    read_before_second_committed = seen[1][0]  # the first score still current
    reads: list[int] = []

    def stale_then_fresh(*args: Any) -> Any:
        reads.append(1)
        nearby, new_id = real_read(*args)
        return (read_before_second_committed if len(reads) == 1 else nearby), new_id

    monkeypatch.setattr(diary_service, "_nearby_scores", stale_then_fresh)
    third = patient.post_score(5, tehran("2026-03-05", "20:00"))

    assert third.status_code == 201, third.json
    assert len(reads) == 2
    versions = {s["id"]: s for s in patient.scores(include_superseded="true")}
    assert versions[first["id"]]["superseded_by_id"] == second["id"]
    assert versions[second["id"]]["superseded_by_id"] == third.json["id"]
    assert [s["score"] for s in patient.scores()] == [5]


def test_a_later_score_of_the_day_costs_the_same_statements_however_many_versions_precede_it(
    patient: Patient, count_queries: CountQueries, db: Session
) -> None:
    """The patient app's most frequent write: superseding the day's score must not read or
    rewrite the day's history version by version."""
    first = patient.post_score(3, tehran("2026-03-05", "18:00")).json
    headers = patient.headers  # (a fresh token is issued with statements of its own)
    counts, ids = [], [first["id"]]
    for hh_mm, score in (("19:00", 4), ("20:00", 5), ("20:10", 6)):
        with count_queries() as statements:
            response = patient.client.post(
                "/api/v1/me/pain-scores", json=patient.score_body(score, tehran("2026-03-05", hh_mm)), headers=headers
            )
        assert response.status_code == 201, response.json
        counts.append(len(statements))
        ids.append(response.json["id"])

    assert counts[0] == counts[1] == counts[2], counts
    versions = {s["id"]: s for s in patient.scores(include_superseded="true")}
    assert [versions[i]["superseded_by_id"] for i in ids] == [*ids[1:], None]
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "pain_score", AuditEvent.entity_id == str(ids[-1]))
    ).all()
    assert [(e.action, e.entity_type, e.participant_id) for e in events] == [
        ("pain_score.create", "pain_score", patient.id)
    ]
    assert events[0].after is not None
    assert {k: events[0].after[k] for k in ("id", "score", "diary_date", "superseded_by_id")} == {
        "id": ids[-1],
        "score": 6,
        "diary_date": "2026-03-05",
        "superseded_by_id": None,
    }


def test_new_versions_draw_their_ids_from_the_id_column_s_own_sequence(engine: Engine, db: Session) -> None:
    """The PostgreSQL write path names the sequence rather than looking it up per request."""
    if engine.dialect.name != "postgresql":
        pytest.skip("sequences: PostgreSQL only")
    owned = db.scalar(text("SELECT pg_get_serial_sequence('pain_score', 'id')"))
    assert owned == f"public.{diary_service.ID_SEQUENCE.name}"


def test_an_older_entry_arriving_late_is_filed_behind_the_current_one(patient: Patient) -> None:
    current = patient.post_score(5, tehran("2026-03-05", "20:00")).json

    offline = patient.post_score(2, tehran("2026-03-05", "18:00"))  # recorded earlier, synced now

    assert offline.status_code == 201, offline.json
    assert offline.json["is_current"] is False
    assert offline.json["superseded_by_id"] == current["id"]
    assert [(s["id"], s["score"]) for s in patient.scores()] == [(current["id"], 5)]
    assert len(patient.scores(include_superseded="true")) == 2


def test_scores_of_different_days_are_all_current(patient: Patient, clock: time_machine.Traveller) -> None:
    clock.move_to(tehran("2026-03-06", "09:30"))
    patient.post_score(4, tehran("2026-03-06", "09:30"), diary_date="2026-03-05")
    patient.post_score(6, tehran("2026-03-06", "09:31"))

    assert [(s["diary_date"], s["score"]) for s in patient.scores()] == [("2026-03-06", 6), ("2026-03-05", 4)]


# --- patient corrections ---------------------------------------------------------------


def test_a_patient_corrects_a_score_with_a_new_version(patient: Patient) -> None:
    original = patient.post_score(3, EVENING).json

    response = patient.correct(original["id"], 6, note="pressed the wrong number")

    assert response.status_code == 201, response.json
    correction = response.json
    assert correction["corrects_id"] == original["id"]
    assert (correction["score"], correction["diary_date"], correction["study_day"]) == (6, "2026-03-05", 4)
    assert correction["is_current"] is True
    assert correction["entered_by_type"] == "participant"
    assert correction["received_at"] == "2026-03-05T17:00:00+00:00"
    versions = {s["id"]: s for s in patient.scores(include_superseded="true")}
    assert versions[original["id"]]["score"] == 3
    assert versions[original["id"]]["superseded_by_id"] == correction["id"]
    assert [s["id"] for s in patient.scores()] == [correction["id"]]


@pytest.mark.parametrize(
    ("after", "status"), [(timedelta(hours=23, minutes=59), 201), (timedelta(hours=24, minutes=1), 403)]
)
def test_a_patient_may_correct_only_within_24_hours_of_recording(
    patient: Patient, clock: time_machine.Traveller, after: timedelta, status: int
) -> None:
    original = patient.post_score(3, EVENING).json
    clock.move_to(EVENING + after)

    response = patient.correct(original["id"], 6)

    assert response.status_code == status, response.json
    current = patient.scores(**{"from": "2026-03-05", "to": "2026-03-05"})
    assert [s["score"] for s in current] == [6 if status == 201 else 3]


def test_a_chain_of_corrections_does_not_extend_the_patients_24_hours(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    # The score was recorded at 20:00 on the 5th; a correction at 19:00 on the 6th is in
    # time, but by 21:00 on the 6th the day's score is 25 hours old: only staff may change it.
    original = patient.post_score(3, EVENING).json
    clock.move_to(EVENING + timedelta(hours=23))
    first = patient.correct(original["id"], 4).json
    clock.move_to(EVENING + timedelta(hours=25))

    response = patient.correct(first["id"], 8)

    assert response.status_code == 403, response.json
    assert [s["score"] for s in patient.scores()] == [4]


def test_a_superseded_version_cannot_be_corrected(patient: Patient) -> None:
    earlier = patient.post_score(3, tehran("2026-03-05", "19:00")).json
    patient.post_score(5, EVENING)

    response = patient.correct(earlier["id"], 6)

    assert response.status_code == 409, response.json
    assert response.json["code"] == "conflict"
    assert [s["score"] for s in patient.scores()] == [5]


def test_a_patient_cannot_correct_another_patients_score(enrol: Callable[..., Patient]) -> None:
    mine, theirs = enrol(), enrol()
    their_score = theirs.post_score(3, EVENING).json

    response = mine.correct(their_score["id"], 9)

    assert response.status_code == 404, response.json
    assert [s["score"] for s in theirs.scores()] == [3]
    assert mine.scores(include_superseded="true") == []


def test_a_correction_replay_returns_the_correction(patient: Patient, client: FlaskClient) -> None:
    original = patient.post_score(3, EVENING).json
    body = {"client_uuid": str(uuid.uuid4()), "score": 6}
    url = f"/api/v1/me/pain-scores/{original['id']}/corrections"

    first = client.post(url, json=body, headers=patient.headers)
    again = client.post(url, json=body, headers=patient.headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert len(patient.scores(include_superseded="true")) == 2


# --- staff corrections -----------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_staff_must_give_a_reason(
    patient: Patient, make: Factory, client: FlaskClient, nurse: StaffUser, reason: str | None
) -> None:
    original = patient.post_score(3, EVENING).json
    body = {"client_uuid": str(uuid.uuid4()), "score": 6, **({} if reason is None else {"reason": reason})}

    response = client.post(staff_correction_url(patient, original["id"]), json=body, headers=make.staff_headers(nurse))

    assert list(field_errors(response)) == ["reason"]
    assert [s["score"] for s in patient.scores(include_superseded="true")] == [3]


def test_staff_correct_a_score_days_later_and_the_trail_shows_before_and_after(
    patient: Patient, make: Factory, client: FlaskClient, nurse: StaffUser, clock: time_machine.Traveller
) -> None:
    original = patient.post_score(3, EVENING).json
    clock.move_to(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # a clinic visit, four days later
    headers = make.staff_headers(nurse)
    body = {"client_uuid": str(uuid.uuid4()), "score": 6, "reason": "patient says the 3 was a typing slip"}

    response = client.post(staff_correction_url(patient, original["id"]), json=body, headers=headers)

    assert response.status_code == 201, response.json
    correction = response.json
    assert correction["corrects_id"] == original["id"]
    assert correction["correction_reason"] == "patient says the 3 was a typing slip"
    assert correction["entered_by_type"] == "staff"
    assert (correction["score"], correction["diary_date"], correction["study_day"]) == (6, "2026-03-05", 4)
    staff_view = client.get(
        participant_url(patient.id, "/pain-scores"), query_string={"include_superseded": "true"}, headers=headers
    ).json
    assert [(s["id"], s["score"], s["is_current"]) for s in staff_view] == [
        (correction["id"], 6, True),
        (original["id"], 3, False),
    ]

    trail = client.get(participant_url(patient.id, "/audit"), headers=headers).json
    [event] = [e for e in trail if e["action"] == "pain_score.correct"]
    assert (event["actor_type"], event["actor_id"], event["actor_role"]) == ("staff", str(nurse.id), "nurse")
    assert (event["entity_type"], event["entity_id"]) == ("pain_score", str(correction["id"]))
    assert (event["before"]["id"], event["before"]["score"]) == (original["id"], 3)
    assert (event["after"]["score"], event["after"]["corrects_id"]) == (6, original["id"])
    assert event["reason"] == "patient says the 3 was a typing slip"
    assert event["occurred_at"] == "2026-03-09T08:00:00+00:00"
