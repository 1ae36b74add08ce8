"""The study team's view of a participant's diary: date filters, pages, and every read
logged as an access event."""

from __future__ import annotations

import json

import time_machine
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AccessEvent
from backend.staff.models import StaffUser
from tests.diary.helpers import Patient, participant_url, tehran
from tests.factories import Factory


def keep_a_diary(patient: Patient, clock: time_machine.Traveller) -> None:
    """Scores 1, 2, 3, 4 on 2–5 March, each entered at 20:00 on its day."""
    for score, day in enumerate(("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"), start=1):
        clock.move_to(tehran(day, "20:00"))
        assert patient.post_score(score, tehran(day, "20:00")).status_code == 201


def test_staff_list_a_date_range_page_by_page_and_the_read_is_logged(
    patient: Patient, clock: time_machine.Traveller, make: Factory, client: FlaskClient, db: Session, nurse: StaffUser
) -> None:
    keep_a_diary(patient, clock)
    headers = make.staff_headers(nurse)
    url = participant_url(patient.id, "/pain-scores")
    window = {"from": "2026-03-03", "to": "2026-03-04", "page_size": 1}

    first = client.get(url, query_string=window, headers=headers)
    second = client.get(url, query_string={**window, "page": 2}, headers=headers)

    assert first.status_code == 200, first.json
    assert [(s["diary_date"], s["score"]) for s in first.json] == [("2026-03-04", 3)]
    assert [(s["diary_date"], s["score"]) for s in second.json] == [("2026-03-03", 2)]
    pages = json.loads(first.headers["X-Pagination"])
    assert (pages["total"], pages["total_pages"], pages["page"], pages["next_page"]) == (2, 2, 1, 2)
    everything = client.get(url, headers=headers).json
    assert [s["diary_date"] for s in everything] == ["2026-03-05", "2026-03-04", "2026-03-03", "2026-03-02"]

    reads = db.scalars(select(AccessEvent).where(AccessEvent.resource == "pain_scores")).all()
    assert len(reads) == 3
    assert {(r.participant_id, r.actor_type, r.actor_id, r.actor_role) for r in reads} == {
        (patient.id, "staff", str(nurse.id), "nurse")
    }
    assert {r.study_id for r in reads} == {patient.participant.study_id}


def test_a_patients_own_reads_are_not_access_events(patient: Patient, db: Session) -> None:
    patient.post_score(4, tehran("2026-03-05", "20:00"))

    assert len(patient.scores()) == 1

    assert db.scalars(select(AccessEvent).where(AccessEvent.resource == "pain_scores")).all() == []


def test_a_nurse_of_another_site_cannot_read_the_diary(
    patient: Patient, make: Factory, client: FlaskClient, db: Session
) -> None:
    patient.post_score(4, tehran("2026-03-05", "20:00"))
    elsewhere = make.staff_headers(make.staff("nurse", sites=("TEH-02",)))

    response = client.get(participant_url(patient.id, "/pain-scores"), headers=elsewhere)

    assert response.status_code == 404
    assert db.scalars(select(AccessEvent).where(AccessEvent.resource == "pain_scores")).all() == []
