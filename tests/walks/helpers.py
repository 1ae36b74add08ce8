"""Instants, request bodies and row counts shared by the walk test tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from backend.flags.models import Flag
from backend.walks.models import WalkTest
from tests import helpers
from tests.helpers import T0 as T0
from tests.helpers import T0_TEHRAN

OWN = "/api/v1/me/walk-tests"
FLAGS = "/api/v1/flags"

# Day 0 a week later, so T0's local date is study day -7 (baseline window -14..0).
DAY0 = date(2026, 3, 9)


def staff_list(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/walk-tests"


def walk(**overrides: Any) -> dict[str, Any]:
    """A minimal valid home walk recorded at T0; override any field."""
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "recorded_at": T0_TEHRAN,
        "method": "phone_gps",
        "distance_m": 400,
    }
    body.update(overrides)
    return body


def row_counts(db: Session) -> dict[str, int]:
    """How many walk tests, flags and audit events exist (to prove a refusal wrote nothing)."""
    return helpers.row_counts(db, WalkTest, Flag, AuditEvent)
