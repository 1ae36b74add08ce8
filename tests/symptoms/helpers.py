"""Instants, request bodies and row counts shared by the symptom report tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.flags.models import Flag
from backend.symptoms.models import SymptomReport

OWN = "/api/v1/me/symptoms"
FLAGS = "/api/v1/flags"

# A Monday, 12:30 in Tehran (UTC+03:30 all year): local date 2026-03-02, study day 0.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_TEHRAN = "2026-03-02T12:30:00+03:30"


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
    models = (SymptomReport, Flag, AuditEvent)
    return {model.__name__: db.scalar(select(func.count()).select_from(model)) or 0 for model in models}
