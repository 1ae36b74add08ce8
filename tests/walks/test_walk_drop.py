"""A walk 30 % or more below the best baseline walk of the same instrument raises a
walk_drop flag. Day 0 is 2026-03-09: the baseline walk at T0 (2026-03-02) is study day -7;
the follow-up on 2026-04-08 is study day 30."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flask.testing import FlaskClient

from backend.participants.models import Participant
from tests.factories import Factory
from tests.walks.helpers import FLAGS, OWN, walk

DAY_30 = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)
DAY_30_TEHRAN = "2026-04-08T12:30:00+03:30"


def walk_flags(client: FlaskClient, headers: dict[str, str], walk_id: int) -> list[str]:
    flags = client.get(FLAGS, query_string={"state": "all"}, headers=headers).json
    return sorted(f["kind"] for f in flags if f["entity_id"] == walk_id)


def baseline_then_day_30(
    client: FlaskClient,
    make: Factory,
    participant: Participant,
    clock: time_machine.Traveller,
    follow_up: dict[str, Any],
    baseline_m: float = 400,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Walk `baseline_m` by phone GPS at baseline; 37 days later send `follow_up`. Returns
    the follow-up's response body and a nurse's headers."""
    patient = make.patient_headers(participant)
    baseline = client.post(OWN, json=walk(method="phone_gps", distance_m=baseline_m), headers=patient)
    assert baseline.status_code == 201, baseline.json
    assert baseline.json["study_day"] == -7
    clock.move_to(DAY_30)
    patient = make.patient_headers(participant)  # the first access token has long expired
    response = client.post(OWN, json=walk(recorded_at=DAY_30_TEHRAN, **follow_up), headers=patient)
    assert response.status_code == 201, response.json
    assert response.json["study_day"] == 30
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    return response.json, nurse


def test_a_30_percent_drop_raises_walk_drop(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    # 400 m × (1 - 0.30) = 280 m: on the line, so flagged.
    follow_up, nurse = baseline_then_day_30(
        client, make, participant, clock, {"method": "phone_gps", "distance_m": 280}
    )
    flags = client.get(FLAGS, query_string={"kind": "walk_drop"}, headers=nurse).json
    assert len(flags) == 1
    assert flags[0]["entity_id"] == follow_up["id"]
    assert flags[0]["detail"] == {"distance_m": 280.0, "baseline_best_m": 400.0, "method": "phone_gps"}
    assert flags[0]["raised_at"] == "2026-04-08T09:00:00+00:00"


def test_a_drop_just_under_30_percent_raises_nothing(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    # 281 m is 29.75 % below 400 m.
    follow_up, nurse = baseline_then_day_30(
        client, make, participant, clock, {"method": "phone_gps", "distance_m": 281}
    )
    assert walk_flags(client, nurse, follow_up["id"]) == []


@pytest.mark.parametrize(
    ("baseline_m", "follow_up_m", "kinds"),
    [
        (350, 245, ["walk_drop"]),  # 105 m is exactly 30 % of 350 m
        (350, 246, []),
        (180, 126, ["walk_drop"]),  # 54 m is exactly 30 % of 180 m
        (700, 490, ["walk_drop"]),  # 210 m is exactly 30 % of 700 m
        (408, 285.6, ["walk_drop"]),  # 122.4 m is exactly 30 % of 408 m (phones report tenths)
        (408, 285.7, []),
    ],
)
def test_exactly_30_percent_is_a_drop_whatever_the_baseline(
    client: FlaskClient,
    make: Factory,
    participant: Participant,
    clock: time_machine.Traveller,
    baseline_m: float,
    follow_up_m: float,
    kinds: list[str],
) -> None:
    follow_up, nurse = baseline_then_day_30(
        client, make, participant, clock, {"method": "phone_gps", "distance_m": follow_up_m}, baseline_m
    )
    assert walk_flags(client, nurse, follow_up["id"]) == kinds


def test_another_instrument_is_never_compared_with_the_baseline(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    # 100 m on a clinic course would be a 75 % drop from a phone walk: a different series.
    follow_up, nurse = baseline_then_day_30(
        client,
        make,
        participant,
        clock,
        {"method": "clinic_course", "course_length_m": 30, "laps": 3, "distance_m": 100},
    )
    assert walk_flags(client, nurse, follow_up["id"]) == []


def test_the_best_baseline_walk_is_the_reference(
    client: FlaskClient, make: Factory, participant: Participant, clock: time_machine.Traveller
) -> None:
    patient = make.patient_headers(participant)
    client.post(OWN, json=walk(distance_m=300), headers=patient)  # a weaker second baseline walk
    # Best baseline 400 m: 290 m is 27.5 % below it (but only 3.3 % below 300 m): no flag.
    follow_up, nurse = baseline_then_day_30(
        client, make, participant, clock, {"method": "phone_gps", "distance_m": 290}
    )
    assert walk_flags(client, nurse, follow_up["id"]) == []


def test_walks_in_the_baseline_window_are_never_drops(
    client: FlaskClient, make: Factory, participant: Participant
) -> None:
    patient = make.patient_headers(participant)
    client.post(OWN, json=walk(distance_m=400), headers=patient)
    second = client.post(OWN, json=walk(distance_m=100), headers=patient).json
    assert second["study_day"] == -7
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    assert walk_flags(client, nurse, second["id"]) == []
