"""Which diary day an entry is for: the local date in the participant's zone, never the
UTC date nor the phone's offset; yesterday only until 10:00 local the next morning; and
study days counted in local dates across daylight-saving changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.diary.models import PainScore
from backend.staff.models import StaffUser
from tests.diary.helpers import BERLIN, Patient, field_errors, participant_url, tehran
from tests.factories import Factory

# --- Asia/Tehran: +03:30, no DST -------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded_at", "utc", "diary_date", "study_day"),
    [
        # 23:50 local is 20:20 UTC the same day: the day is the local one.
        ("2026-03-05T23:50:00+03:30", "2026-03-05T20:20:00+00:00", "2026-03-05", 4),
        # 00:45 local on the 6th is still the 5th in UTC: the local date wins.
        ("2026-03-06T00:45:00+03:30", "2026-03-05T21:15:00+00:00", "2026-03-06", 5),
        # The same instant from a phone set to UTC: the participant's zone decides, not the offset.
        ("2026-03-05T21:15:00+00:00", "2026-03-05T21:15:00+00:00", "2026-03-06", 5),
    ],
)
def test_an_entry_is_for_its_local_date_in_the_participants_zone(
    patient: Patient, clock: time_machine.Traveller, recorded_at: str, utc: str, diary_date: str, study_day: int
) -> None:
    clock.move_to(datetime(2026, 3, 5, 21, 30, tzinfo=UTC))

    response = patient.post_score(3, recorded_at)

    assert response.status_code == 201, response.json
    assert response.json["recorded_at"] == utc
    assert response.json["diary_date"] == diary_date
    assert response.json["study_day"] == study_day  # day 0 is 1 March


@pytest.mark.parametrize("hh_mm", ["09:30", "09:59"])
def test_yesterday_can_be_filled_until_10_local_the_next_morning(
    patient: Patient, clock: time_machine.Traveller, hh_mm: str
) -> None:
    morning = tehran("2026-03-06", hh_mm)
    clock.move_to(morning)

    response = patient.post_score(6, morning, diary_date="2026-03-05")

    assert response.status_code == 201, response.json
    assert response.json["diary_date"] == "2026-03-05"
    assert response.json["study_day"] == 4


def test_without_a_diary_date_a_morning_entry_is_for_today(patient: Patient, clock: time_machine.Traveller) -> None:
    morning = tehran("2026-03-06", "09:30")
    clock.move_to(morning)

    response = patient.post_score(6, morning)

    assert response.json["diary_date"] == "2026-03-06"


@pytest.mark.parametrize("hh_mm", ["10:00", "10:05"])
def test_yesterday_is_closed_from_10_local(
    patient: Patient, clock: time_machine.Traveller, db: Session, hh_mm: str
) -> None:
    morning = tehran("2026-03-06", hh_mm)
    clock.move_to(morning)

    response = patient.post_score(6, morning, diary_date="2026-03-05")

    assert "closed" in field_errors(response)["diary_date"][0]
    assert db.scalar(select(func.count()).select_from(PainScore)) == 0


@pytest.mark.parametrize("diary_date", ["2026-03-04", "2026-03-07"])
def test_two_days_back_or_tomorrow_is_refused(
    patient: Patient, clock: time_machine.Traveller, db: Session, diary_date: str
) -> None:
    morning = tehran("2026-03-06", "09:30")
    clock.move_to(morning)

    response = patient.post_score(6, morning, diary_date=diary_date)

    assert list(field_errors(response)) == ["diary_date"]
    assert db.scalar(select(func.count()).select_from(PainScore)) == 0


def test_yesterday_cannot_be_filled_when_it_was_before_enrolment(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, db: Session
) -> None:
    patient = enrol(enrolled_at=tehran("2026-03-06", "08:00"))  # enrolled this morning
    morning = tehran("2026-03-06", "09:30")
    clock.move_to(morning)

    response = patient.post_score(6, morning, diary_date="2026-03-05")

    assert list(field_errors(response)) == ["diary_date"]
    assert db.scalar(select(func.count()).select_from(PainScore)) == 0


# --- Europe/Berlin: daylight-saving changes --------------------------------------------


def test_local_dates_and_study_days_across_the_spring_change(
    enrol: Callable[..., Patient], clock: time_machine.Traveller
) -> None:
    # Clocks go from 02:00 CET (+01:00) to 03:00 CEST (+02:00) on Sunday 29 March 2026.
    patient = enrol(timezone="Europe/Berlin", day0_date="2026-03-28")
    clock.move_to(datetime(2026, 3, 29, 23, 40, tzinfo=UTC))

    before = patient.post_score(2, "2026-03-29T00:30:00+01:00").json
    after = patient.post_score(3, "2026-03-30T01:30:00+02:00").json

    assert (before["recorded_at"], before["recorded_utc_offset_minutes"]) == ("2026-03-28T23:30:00+00:00", 60)
    assert (before["diary_date"], before["study_day"]) == ("2026-03-29", 1)
    assert (after["recorded_at"], after["recorded_utc_offset_minutes"]) == ("2026-03-29T23:30:00+00:00", 120)
    assert (after["diary_date"], after["study_day"]) == ("2026-03-30", 2)


def test_local_dates_and_study_days_across_the_autumn_change(
    enrol: Callable[..., Patient], clock: time_machine.Traveller
) -> None:
    # Clocks go from 03:00 CEST (+02:00) back to 02:00 CET (+01:00) on Sunday 25 October 2026.
    patient = enrol(timezone="Europe/Berlin", day0_date="2026-10-24")
    clock.move_to(datetime(2026, 10, 25, 23, 40, tzinfo=UTC))

    before = patient.post_score(2, "2026-10-25T00:30:00+02:00").json
    after = patient.post_score(3, "2026-10-26T00:30:00+01:00").json

    assert (before["recorded_at"], before["diary_date"], before["study_day"]) == (
        "2026-10-24T22:30:00+00:00",
        "2026-10-25",
        1,
    )
    assert (after["recorded_at"], after["diary_date"], after["study_day"]) == (
        "2026-10-25T23:30:00+00:00",
        "2026-10-26",
        2,
    )


@pytest.mark.parametrize(
    ("utc", "accepted"),
    [
        # Sunday 29 March: 08:05 UTC is 10:05 CEST (it would be 09:05 in CET).
        (datetime(2026, 3, 29, 8, 5, tzinfo=UTC), False),
        # Sunday 25 October: 08:30 UTC is 09:30 CET (it would be 10:30 in CEST).
        (datetime(2026, 10, 25, 8, 30, tzinfo=UTC), True),
    ],
)
def test_the_morning_grace_time_is_read_in_local_time_on_change_days(
    enrol: Callable[..., Patient], clock: time_machine.Traveller, utc: datetime, accepted: bool
) -> None:
    patient = enrol(timezone="Europe/Berlin")
    clock.move_to(utc)
    yesterday = "2026-03-28" if utc.month == 3 else "2026-10-24"

    response = patient.post_score(5, utc.astimezone(BERLIN), diary_date=yesterday)

    if accepted:
        assert response.status_code == 201, response.json
        assert response.json["diary_date"] == yesterday
    else:
        assert "closed" in field_errors(response)["diary_date"][0]


# --- day 0 moves -----------------------------------------------------------------------


def test_moving_day_0_restamps_the_study_day_of_existing_scores(
    patient: Patient, clock: time_machine.Traveller, make: Factory, client: FlaskClient, nurse: StaffUser
) -> None:
    clock.move_to(tehran("2026-03-05", "09:30"))
    late_filled = patient.post_score(4, tehran("2026-03-05", "09:30"), diary_date="2026-03-04").json
    clock.move_to(tehran("2026-03-05", "20:30"))
    today = patient.post_score(5, tehran("2026-03-05", "20:15")).json
    assert (late_filled["study_day"], today["study_day"]) == (3, 4)  # day 0 on 1 March

    response = client.patch(
        participant_url(patient.id),
        json={"day0_date": "2026-03-03", "reason": "first injection postponed"},
        headers=make.staff_headers(nurse),
    )

    assert response.status_code == 200, response.json
    # By diary date, not by the local date of recording (the 4th was filled on the 5th).
    assert [(s["diary_date"], s["study_day"]) for s in patient.scores()] == [("2026-03-05", 2), ("2026-03-04", 1)]
