"""Instants, request bodies and row counts shared by the symptom report tests."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.flags.models import Flag
from backend.symptoms.models import SymptomReport
from tests import helpers
from tests.helpers import T0 as T0
from tests.helpers import T0_TEHRAN

OWN = "/api/v1/me/symptoms"
FLAGS = "/api/v1/flags"


def staff_list(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/symptoms"


def symptom(**overrides: Any) -> dict[str, Any]:
    """A mild fever since yesterday, reported at T0; override any field."""
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": T0_TEHRAN,
        "category": "fever",
        "severity": "mild",
        "onset_date": "2026-03-01",
    }
    body.update(overrides)
    return body


def row_counts(db: Session) -> dict[str, int]:
    """How many reports, flags and audit events exist (to prove a refusal wrote nothing)."""
    return helpers.row_counts(db, SymptomReport, Flag, AuditEvent)
