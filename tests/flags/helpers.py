"""Instants, routes and entry bodies shared by the flag queue tests."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from tests.helpers import T0

FLAGS = "/api/v1/flags"
SYMPTOMS = "/api/v1/me/symptoms"
WALKS = "/api/v1/me/walk-tests"
PAIN = "/api/v1/me/pain-scores"


def acknowledge_url(flag_id: int) -> str:
    return f"{FLAGS}/{flag_id}/acknowledge"


def entry(**fields: Any) -> dict[str, Any]:
    """An entry body recorded at T0 (override recorded_at to change that)."""
    return {"client_uuid": str(uuid.uuid4()), "recorded_at": T0.isoformat(), **fields}


def report_symptom(client: FlaskClient, patient: dict[str, str], severity: str = "mild", **fields: Any) -> int:
    """Report a symptom (each one raises a flag); return the report id."""
    body = entry(category="fever", severity=severity, onset_date="2026-03-02", **fields)
    response = client.post(SYMPTOMS, json=body, headers=patient)
    assert response.status_code == 201, response.json
    return int(response.json["id"])
