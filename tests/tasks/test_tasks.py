"""The home screen's task list, in the participant's local time: today's diary, an open
or missed yesterday, this study week's walk test and the next clinic visit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from tests.diary.helpers import TASKS, Patient, tehran
from tests.factories import Factory
from tests.ulcers.helpers import OWN_ULCERS, synthetic, ulcer_body, upload


def diary(tasks: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(t["date"], t["status"], t["closes_at"]) for t in tasks["tasks"] if t["task"] == "rest_pain_diary"]


def only(tasks: dict[str, Any], kind: str) -> dict[str, Any]:
    [task] = [t for t in tasks["tasks"] if t["task"] == kind]
    return task


# --- the diary -------------------------------------------------------------------------


def test_todays_diary_is_due_then_done(patient: Patient) -> None:
    before = patient.get(TASKS)
    assert (before["local_date"], before["study_day"], before["timezone"]) == ("2026-03-05", 4, "Asia/Tehran")
    assert diary(before)[0] == ("2026-03-05", "due", "2026-03-06T10:00:00+03:30")

    patient.post_score(4, tehran("2026-03-05", "20:15"))

    assert diary(patient.get(TASKS))[0] == ("2026-03-05", "done", "2026-03-06T10:00:00+03:30")


def test_before_10_an_unfilled_yesterday_is_still_due(patient: Patient, clock: time_machine.Traveller) -> None:
    clock.move_to(tehran("2026-03-06", "09:30"))

    assert diary(patient.get(TASKS)) == [
        ("2026-03-06", "due", "2026-03-07T10:00:00+03:30"),
        ("2026-03-05", "due", "2026-03-06T10:00:00+03:30"),
        ("2026-03-04", "missed", "2026-03-05T10:00:00+03:30"),
    ]

    patient.post_score(6, tehran("2026-03-06", "09:30"), diary_date="2026-03-05")

    assert diary(patient.get(TASKS))[1] == ("2026-03-05", "done", "2026-03-06T10:00:00+03:30")


def test_after_10_an_unfilled_yesterday_is_missed(patient: Patient, clock: time_machine.Traveller) -> None:
    clock.move_to(tehran("2026-03-06", "10:30"))

    assert diary(patient.get(TASKS)) == [
        ("2026-03-06", "due", "2026-03-07T10:00:00+03:30"),
        ("2026-03-05", "missed", "2026-03-06T10:00:00+03:30"),
    ]


def test_days_before_enrolment_are_not_tasks(enrol: Callable[..., Patient]) -> None:
    patient = enrol(enrolled_at=datetime(2026, 3, 5, 5, 0, tzinfo=UTC))  # 08:30 today in Tehran

    assert diary(patient.get(TASKS)) == [("2026-03-05", "due", "2026-03-06T10:00:00+03:30")]


# --- ulcer photos ----------------------------------------------------------------------


def test_each_open_ulcer_needs_a_photo_per_study_week(patient: Patient, make: Factory) -> None:
    assert [t for t in patient.get(TASKS)["tasks"] if t["task"] == "ulcer_photo"] == []  # no ulcer yet
    heel = patient.client.post(OWN_ULCERS, json=ulcer_body(label="heel"), headers=patient.headers).json
    toe = patient.client.post(OWN_ULCERS, json=ulcer_body(label="toe"), headers=patient.headers).json

    photos = [t for t in patient.get(TASKS)["tasks"] if t["task"] == "ulcer_photo"]
    assert [(t["ulcer_id"], t["label"], t["status"], t["date"]) for t in photos] == [
        (heel["id"], "heel", "due", "2026-03-01"),
        (toe["id"], "toe", "due", "2026-03-01"),
    ]
    assert photos[0]["closes_at"] == "2026-03-08T00:00:00+03:30"

    data, _ = synthetic(3)
    uploaded = upload(patient.client, patient.headers, heel["id"], data)
    assert uploaded.status_code == 201
    photo = uploaded.json
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    closure = f"/api/v1/participants/{patient.id}/ulcers/{toe['id']}/closures"
    assert patient.client.post(closure, json={"observed_on": "2026-03-04"}, headers=nurse).status_code == 201

    photos = [t for t in patient.get(TASKS)["tasks"] if t["task"] == "ulcer_photo"]
    assert [(t["label"], t["status"]) for t in photos] == [("heel", "done")]  # a healed ulcer needs none

    review = {"decision": "reject", "reject_reason": "blurred"}
    assert patient.client.post(f"/api/v1/photos/{photo['id']}/review", json=review, headers=nurse).status_code == 201
    photos = [t for t in patient.get(TASKS)["tasks"] if t["task"] == "ulcer_photo"]
    assert [(t["label"], t["status"]) for t in photos] == [("heel", "due")]  # a rejected photo is taken again


# --- the walk test ---------------------------------------------------------------------


def test_the_walk_test_is_due_once_per_study_week(patient: Patient) -> None:
    # Study week 0 runs from day 0 to day 6: 1–7 March.
    walk = only(patient.get(TASKS), "six_minute_walk")
    assert (walk["status"], walk["date"], walk["method"]) == ("due", "2026-03-01", "phone_gps")
    assert walk["closes_at"] == "2026-03-08T00:00:00+03:30"

    last_week = patient.post_walk(300, tehran("2026-02-28", "17:00"))  # day −1: the week before
    clinic = patient.post_walk(310, tehran("2026-03-03", "11:00"), method="clinic_course", course_length_m=30)
    assert (last_week.status_code, clinic.status_code) == (201, 201), (last_week.json, clinic.json)
    assert only(patient.get(TASKS), "six_minute_walk")["status"] == "due"  # not the protocol's method

    assert patient.post_walk(320, tehran("2026-03-05", "17:00")).status_code == 201

    assert only(patient.get(TASKS), "six_minute_walk")["status"] == "done"


# --- the next visit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "code", "status", "target", "window"),
    [
        ("2026-03-01", "BASELINE", "in_window", "2026-03-01", ("2026-02-15", "2026-03-01")),  # day 0: −14…0
        ("2026-03-05", "M1", "upcoming", "2026-03-31", ("2026-03-24", "2026-04-07")),  # day 4: M1 is 23…37
        ("2026-03-26", "M1", "in_window", "2026-03-31", ("2026-03-24", "2026-04-07")),  # day 25
        ("2026-04-10", "M2", "upcoming", "2026-04-30", ("2026-04-23", "2026-05-07")),  # day 40: M2 is 53…67
    ],
)
def test_the_next_visit_and_its_window(
    patient: Patient,
    clock: time_machine.Traveller,
    today: str,
    code: str,
    status: str,
    target: str,
    window: tuple[str, str],
) -> None:
    clock.move_to(tehran(today, "15:00"))

    visit = only(patient.get(TASKS), "visit")

    assert (visit["visit_code"], visit["status"], visit["date"]) == (code, status, target)
    assert (visit["window_start"], visit["window_end"]) == window


def test_no_visit_is_shown_while_day_0_is_unknown(enrol: Callable[..., Patient]) -> None:
    patient = enrol(day0_date=None)

    tasks = patient.get(TASKS)

    assert tasks["study_day"] is None
    assert [t for t in tasks["tasks"] if t["task"] == "visit"] == []


def test_today_is_the_local_date_even_when_utc_is_still_on_the_day_before(
    patient: Patient, clock: time_machine.Traveller
) -> None:
    clock.move_to(datetime(2026, 3, 5, 21, 0, tzinfo=UTC))  # 00:30 on 6 March in Tehran

    tasks = patient.get(TASKS)

    assert (tasks["local_date"], tasks["study_day"]) == ("2026-03-06", 5)
    assert [(day, status) for day, status, _ in diary(tasks)] == [
        ("2026-03-06", "due"),
        ("2026-03-05", "due"),
        ("2026-03-04", "missed"),
    ]
