"""Instants, request bodies and row counts shared by the amputation event tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from backend.amputations.models import AmputationEvent
from backend.audit.models import AuditEvent
from tests import helpers
from tests.helpers import T0 as T0

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
    return helpers.row_counts(db, AmputationEvent, AuditEvent)


def refused(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The error envelope of a refusal, checked; returns its per-field body errors."""
    errors: dict[str, Any] = helpers.refused(response, status, code).get("errors", {}).get("json", {})
    return errors
