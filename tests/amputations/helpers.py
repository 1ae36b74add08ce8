"""Instants, request bodies and row counts shared by the amputation event tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.amputations.models import AmputationEvent
from backend.audit.models import AuditEvent

# A Monday, 12:30 in Tehran (UTC+03:30 all year): local date 2026-03-02. The factory's
# participants consented on 2026-01-10.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONSENT = "2026-01-10"


def events_url(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/amputations"


def corrections_url(participant_id: int, event_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/amputations/{event_id}/corrections"


def event(**overrides: Any) -> dict[str, Any]:
    """A valid below-knee amputation of the right leg on 2026-02-20; override any field."""
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "occurred_on": "2026-02-20",
        "leg": "right",
        "level": "transtibial",
    }
    body.update(overrides)
    return body


def correction(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"client_uuid": str(uuid.uuid4()), "reason": "checked against the operative note"}
    body.update(changes)
    return body


def row_counts(db: Session) -> dict[str, int]:
    """How many amputation events and audit events exist (to prove a refusal wrote nothing)."""
    return {
        model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
        for model in (AmputationEvent, AuditEvent)
    }


def refused(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The error envelope of a refusal, checked; returns its per-field body errors."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.json
    assert body is not None
    assert body["code"] == code and body["status"] == status and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    errors: dict[str, Any] = body.get("errors", {}).get("json", {})
    return errors
