"""The patient's own summary: the mean of the current daily scores of the last 7 local
days, and the latest walk distances."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from tests.diary.helpers import SUMMARY, Patient, tehran


def test_the_7_day_mean_counts_current_scores_of_the_last_7_days(patient: Patient) -> None:
    # Today is 5 March in Tehran: the 7 days are 27 February – 5 March.
    for score, day, hh_mm in [
        (9, "2026-02-26", "20:00"),  # 8 days ago: outside
        (1, "2026-02-27", "20:00"),
        (2, "2026-03-04", "19:00"),  # superseded by the 5 later that evening
        (5, "2026-03-04", "21:00"),
        (6, "2026-03-05", "20:00"),
    ]:
        assert patient.post_score(score, tehran(day, hh_mm)).status_code == 201
    for distance, day in [(280.0, "2026-03-03"), (310.5, "2026-03-05")]:
        assert patient.post_walk(distance, tehran(day, "17:00")).status_code == 201

    summary = patient.get(SUMMARY)

    assert summary["pain_7_day_mean"] == 4.0  # (1 + 5 + 6) / 3
    assert summary["pain_7_day_days"] == 3
    assert summary["pain_scores"] == [
        {"diary_date": "2026-02-27", "score": 1},
        {"diary_date": "2026-03-04", "score": 5},
        {"diary_date": "2026-03-05", "score": 6},
    ]
    assert summary["walk_tests"] == [
        {"local_date": "2026-03-05", "method": "phone_gps", "distance_m": 310.5},
        {"local_date": "2026-03-03", "method": "phone_gps", "distance_m": 280.0},
    ]


def test_an_empty_summary(patient: Patient) -> None:
    assert patient.get(SUMMARY) == {
        "pain_7_day_mean": None,
        "pain_7_day_days": 0,
        "pain_scores": [],
        "walk_tests": [],
    }


def test_the_7_days_are_local_days(patient: Patient, clock: time_machine.Traveller) -> None:
    patient.post_score(3, tehran("2026-02-27", "20:00"))
    patient.post_score(7, tehran("2026-02-28", "20:00"))
    clock.move_to(datetime(2026, 3, 5, 21, 0, tzinfo=UTC))  # 00:30 on 6 March in Tehran: 28 Feb – 6 March

    summary = patient.get(SUMMARY)

    assert (summary["pain_7_day_mean"], summary["pain_7_day_days"]) == (7.0, 1)
