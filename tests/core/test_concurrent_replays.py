"""The same create sent twice at once (a phone retrying while the first is still being
written): the second one's insert breaks the (participant, client_uuid) key. It must be
answered as a replay, 200 with the original, never a 500. The race is staged by letting
the second request's replay check miss the first row, as it would before that commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import time_machine

from backend.amputations import service as amputation_service
from backend.entries import service as entries
from tests.diary.helpers import NOW, Patient, enrolled_patient
from tests.factories import Factory


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def blind_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next replay check sees nothing (the other request has not committed yet)."""
    real: Callable[..., Any] = entries.find_replay
    calls: list[int] = []

    def racing(session: Any, model: Any, participant_id: int, data: dict[str, Any]) -> Any:
        calls.append(1)
        existing, fingerprint = real(session, model, participant_id, data)
        return (None, fingerprint) if len(calls) == 1 else (existing, fingerprint)

    monkeypatch.setattr(entries, "find_replay", racing)


def walk(patient: Patient) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "recorded_at": NOW.isoformat(), "method": "phone_gps", "distance_m": 300}


def symptom(patient: Patient) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": NOW.isoformat(),
        "category": "fever",
        "severity": "mild",
        "onset_date": NOW.date().isoformat(),
    }


@pytest.mark.parametrize(("url", "body"), [("/api/v1/me/walk-tests", walk), ("/api/v1/me/symptoms", symptom)])
def test_a_create_sent_twice_at_once_is_a_replay(
    make: Factory, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch, url: str, body: Any
) -> None:
    patient = enrolled_patient(make)
    sent = body(patient)
    first = make.client.post(url, json=sent, headers=patient.headers)
    assert first.status_code == 201, first.json
    blind_once(monkeypatch)

    second = make.client.post(url, json=sent, headers=patient.headers)

    assert second.status_code == 200, second.json
    assert second.json["id"] == first.json["id"]


def test_an_amputation_sent_twice_at_once_is_a_replay(
    make: Factory, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = enrolled_patient(make)
    nurse = make.staff_headers(make.staff("nurse", sites=("TEH-01",)))
    sent = {"client_uuid": str(uuid.uuid4()), "occurred_on": "2026-03-04", "leg": "right", "level": "toe"}
    url = f"/api/v1/participants/{patient.id}/amputations"
    first = make.client.post(url, json=sent, headers=nurse)
    assert first.status_code == 201, first.json
    blind_once(monkeypatch)
    # nor does its check for the same event entered twice (the first is not committed yet)
    real_check = amputation_service._refuse_duplicate
    seen: list[int] = []

    def blind_check(*args: Any, **kwargs: Any) -> None:
        seen.append(1)
        if len(seen) > 1:
            real_check(*args, **kwargs)

    monkeypatch.setattr(amputation_service, "_refuse_duplicate", blind_check)

    second = make.client.post(url, json=sent, headers=nurse)

    assert second.status_code == 200, second.json
    assert second.json["id"] == first.json["id"]
