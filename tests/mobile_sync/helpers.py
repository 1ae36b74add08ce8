"""Instants, routes, item builders and row counts shared by the offline sync tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.diary.models import PainScore
from backend.flags.models import Flag
from backend.symptoms.models import SymptomReport
from backend.walks.models import WalkTest

SYNC = "/api/v1/me/sync"
PAIN = "/api/v1/me/pain-scores"
WALKS = "/api/v1/me/walk-tests"
SYMPTOMS = "/api/v1/me/symptoms"
FLAGS = "/api/v1/flags"

# A Monday, 12:30 in Tehran (UTC+03:30 all year): local date 2026-03-02, study day 0.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pain(recorded_at: datetime = T0, **fields: Any) -> dict[str, Any]:
    return {"kind": "pain_score", "data": _body(recorded_at, {"score": 3, **fields})}


def walk(recorded_at: datetime = T0, **fields: Any) -> dict[str, Any]:
    return {"kind": "walk_test", "data": _body(recorded_at, {"method": "phone_gps", "distance_m": 420, **fields})}


def symptom(recorded_at: datetime = T0, **fields: Any) -> dict[str, Any]:
    body = {"category": "swelling", "severity": "moderate", "onset_date": "2026-03-01", **fields}
    return {"kind": "symptom_report", "data": _body(recorded_at, body)}


def _body(recorded_at: datetime, fields: dict[str, Any]) -> dict[str, Any]:
    return {"client_uuid": str(uuid.uuid4()), "recorded_at": recorded_at.isoformat(), **fields}


def row_counts(db: Session) -> dict[str, int]:
    """How many entries, flags and audit events exist (to prove what a batch wrote)."""
    models = (PainScore, WalkTest, SymptomReport, Flag, AuditEvent)
    return {model.__name__: db.scalar(select(func.count()).select_from(model)) or 0 for model in models}
