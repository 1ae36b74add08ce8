"""Flags the diary raises for the nurse: a rise in rest pain over the last week's mean,
and three closed diary days in a row without a score (an hourly job, safe to re-run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.diary.service import scan_missed_diaries
from backend.flags.models import Flag, FlagKind
from backend.staff.models import StaffUser
from tests.diary.helpers import FLAGS, Patient, tehran
from tests.factories import Factory

# --- pain rise -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "today", "mean"),
    [
        ([2, 2, 3], 6, 2.33),  # 6 − 7/3 = 3.67 ≥ 3
        ([2, 2, 2], 5, 2.0),  # 5 − 2 = 3, exactly the threshold
    ],
)
def test_a_score_3_points_above_the_weeks_mean_raises_a_pain_rise_flag(
    patient: Patient,
    clock: time_machine.Traveller,
    make: Factory,
    client: FlaskClient,
    nurse: StaffUser,
    history: list[int],
    today: int,
    mean: float,
) -> None:
    for day, score in zip(("2026-03-02", "2026-03-03", "2026-03-04"), history, strict=True):
        clock.move_to(tehran(day, "20:05"))
        assert patient.post_score(score, tehran(day, "20:00")).status_code == 201
    clock.move_to(tehran("2026-03-05", "20:05"))

    rise = patient.post_score(today, tehran("2026-03-05", "20:00")).json

    flags = client.get(FLAGS, query_string={"kind": "pain_rise"}, headers=make.staff_headers(nurse)).json
    assert [(f["participant_id"], f["entity_type"], f["entity_id"]) for f in flags] == [
        (patient.id, "pain_score", rise["id"])
    ]
    assert flags[0]["detail"] == {"score": today, "previous_7_day_mean": mean, "days": 3}


@pytest.mark.parametrize(
    ("history", "today"),
    [
        ([2, 2, 3], 5),  # 5 − 7/3 = 2.67 < 3
        ([2, 3], 9),  # only two days of history: no mean to compare with yet
    ],
)
def test_no_pain_rise_flag_below_the_threshold_or_without_3_days(
    patient: Patient,
    clock: time_machine.Traveller,
    make: Factory,
    client: FlaskClient,
    nurse: StaffUser,
    history: list[int],
    today: int,
) -> None:
    days = ("2026-03-02", "2026-03-03", "2026-03-04")[-len(history) :]
    for day, score in zip(days, history, strict=True):
        clock.move_to(tehran(day, "20:05"))
        assert patient.post_score(score, tehran(day, "20:00")).status_code == 201
    clock.move_to(tehran("2026-03-05", "20:05"))

    assert patient.post_score(today, tehran("2026-03-05", "20:00")).status_code == 201

    assert client.get(FLAGS, query_string={"kind": "pain_rise"}, headers=make.staff_headers(nurse)).json == []


def test_a_correction_that_rises_3_points_above_the_mean_raises_a_pain_rise_flag(
    patient: Patient, clock: time_machine.Traveller, make: Factory, client: FlaskClient, nurse: StaffUser
) -> None:
    for day, score in (("2026-03-02", 2), ("2026-03-03", 2), ("2026-03-04", 3)):
        clock.move_to(tehran(day, "20:05"))
        assert patient.post_score(score, tehran(day, "20:00")).status_code == 201
    clock.move_to(tehran("2026-03-05", "20:05"))
    typo = patient.post_score(2, tehran("2026-03-05", "20:00")).json

    # The patient meant 7: the day's current score is now 7 − 7/3 = 4.67 above the mean.
    corrected = patient.correct(typo["id"], 7).json

    flags = client.get(FLAGS, query_string={"kind": "pain_rise"}, headers=make.staff_headers(nurse)).json
    assert [(f["entity_id"], f["detail"]["score"]) for f in flags] == [(corrected["id"], 7)]


# --- missed diaries --------------------------------------------------------------------

ENROLMENT = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # 08:30 in Tehran on 1 March
AFTER_GRACE = tehran("2026-03-10", "10:30")  # yesterday (the 9th) has closed: 7th–9th count
BEFORE_GRACE = tehran("2026-03-10", "09:30")  # the 9th is still open: 6th–8th count


def fill(patient: Patient, clock: time_machine.Traveller, day: str) -> None:
    clock.move_to(tehran(day, "20:00"))
    assert patient.post_score(4, tehran(day, "20:00")).status_code == 201


def missed_flags(db: Session) -> dict[int, list[str]]:
    flags = db.scalars(select(Flag).where(Flag.kind == FlagKind.MISSED_DIARY))
    return {flag.participant_id: flag.detail["days"] for flag in flags}


def test_three_closed_days_without_a_score_raise_one_flag(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, make: Factory, db: Session
) -> None:
    idle = enrol(enrolled_at=ENROLMENT)
    filled_one_day = enrol(enrolled_at=ENROLMENT)
    filled_before = enrol(enrolled_at=ENROLMENT)
    just_enrolled = enrol(enrolled_at=datetime(2026, 3, 8, 5, 0, tzinfo=UTC))  # the 7th is before enrolment
    screening = make.participant(day0_date="2026-03-01")
    fill(filled_one_day, clock, "2026-03-08")
    fill(filled_before, clock, "2026-03-06")
    clock.move_to(AFTER_GRACE)

    assert scan_missed_diaries(db, AFTER_GRACE) == 2

    days = ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert missed_flags(db) == {idle.id: days, filled_before.id: days}
    assert not {filled_one_day.id, just_enrolled.id, screening.id} & set(missed_flags(db))


def test_running_the_scan_again_raises_nothing_new(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, db: Session
) -> None:
    idle = enrol(enrolled_at=ENROLMENT)
    clock.move_to(AFTER_GRACE)

    assert scan_missed_diaries(db, AFTER_GRACE) == 1
    assert scan_missed_diaries(db, tehran("2026-03-10", "11:30")) == 0

    assert len(db.scalars(select(Flag).where(Flag.participant_id == idle.id)).all()) == 1


def test_yesterday_counts_as_missed_only_once_its_grace_time_is_over(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, db: Session
) -> None:
    patient = enrol(enrolled_at=ENROLMENT)
    fill(patient, clock, "2026-03-06")
    clock.move_to(BEFORE_GRACE)

    assert scan_missed_diaries(db, BEFORE_GRACE) == 0  # 6th–8th: the 6th was filled

    clock.move_to(AFTER_GRACE)
    assert scan_missed_diaries(db, AFTER_GRACE) == 1  # 7th–9th: none filled
    assert missed_flags(db) == {patient.id: ["2026-03-07", "2026-03-08", "2026-03-09"]}


def test_the_job_runs_from_the_command_line(
    app: Flask,
    enrol: Callable[..., Patient],
    clock: time_machine.Traveller,
    db: Session,
    make: Factory,
    client: FlaskClient,
    nurse: StaffUser,
) -> None:
    idle = enrol(enrolled_at=ENROLMENT)
    clock.move_to(AFTER_GRACE)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["jobs", "run", "missed-diaries"])
    second = runner.invoke(args=["jobs", "run", "missed-diaries"])

    assert (first.exit_code, first.output) == (0, "missed-diaries: 1 new flags\n")
    assert (second.exit_code, second.output) == (0, "missed-diaries: 0 new flags\n")
    flags = client.get(FLAGS, query_string={"kind": "missed_diary"}, headers=make.staff_headers(nurse)).json
    assert [(f["participant_id"], f["detail"]) for f in flags] == [
        # Nothing since enrolment on 1 March: the gap started then.
        (idle.id, {"days": ["2026-03-07", "2026-03-08", "2026-03-09"], "gap_started": "2026-03-01"})
    ]


def test_a_gap_that_goes_on_is_flagged_once_and_a_new_gap_again(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, db: Session
) -> None:
    patient = enrol(enrolled_at=ENROLMENT)
    clock.move_to(AFTER_GRACE)
    assert scan_missed_diaries(db, AFTER_GRACE) == 1  # 7th–9th

    # Still nothing a day later: the same gap, now four days long, is not a new cause.
    next_day = tehran("2026-03-11", "10:30")
    clock.move_to(next_day)
    assert scan_missed_diaries(db, next_day) == 0

    # The patient fills the 11th, then misses the 12th–14th: a new gap, a new flag.
    fill(patient, clock, "2026-03-11")
    later = tehran("2026-03-15", "10:30")
    clock.move_to(later)
    assert scan_missed_diaries(db, later) == 1
    assert sorted(days for days in (f.detail["days"] for f in db.scalars(select(Flag)))) == [
        ["2026-03-07", "2026-03-08", "2026-03-09"],
        ["2026-03-12", "2026-03-13", "2026-03-14"],
    ]
