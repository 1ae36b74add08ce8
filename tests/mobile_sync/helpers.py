"""Instants, routes, item builders and row counts shared by the offline sync tests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.diary.models import PainScore
from backend.flags.models import Flag
from backend.symptoms.models import SymptomReport
from backend.walks.models import WalkTest
from tests import helpers
from tests.helpers import T0

SYNC = "/api/v1/me/sync"
PAIN = "/api/v1/me/pain-scores"
WALKS = "/api/v1/me/walk-tests"
SYMPTOMS = "/api/v1/me/symptoms"
FLAGS = "/api/v1/flags"


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
    return helpers.row_counts(db, PainScore, WalkTest, SymptomReport, Flag, AuditEvent)
