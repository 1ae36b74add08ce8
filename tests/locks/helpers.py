"""Instants, routes and small request helpers shared by the data lock tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEvent
from tests.helpers import T0 as T0
from tests.helpers import new_uuid as new_uuid
from tests.helpers import refused as refused

TODAY = date(2026, 3, 2)
# Day 0 (the first injection) on 2026-01-31: TODAY is study day 30, inside M1's window
# (days 23..37: 2026-02-23..2026-03-09). BASELINE (days -14..0) is 2026-01-17..2026-01-31.
DAY0 = date(2026, 1, 31)
BASELINE_DAY = date(2026, 1, 25)  # study day -6
ENROLLED_AT = datetime(2026, 1, 16, 9, 0, tzinfo=UTC)  # before BASELINE_DAY; consent 2026-01-10


def locks_url(participant_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/locks"


def release_url(participant_id: int, lock_id: int) -> str:
    return f"/api/v1/participants/{participant_id}/locks/{lock_id}/release"


def set_lock(
    client: FlaskClient, admin: dict[str, str], participant_id: int, level: str, visit_code: str | None = None
) -> dict[str, Any]:
    """Freeze or lock through the API as an admin; the new lock's body."""
    body = {"level": level, "visit_code": visit_code, "reason": f"close-out: {level}"}
    response = client.post(locks_url(participant_id), json=body, headers=admin)
    assert response.status_code == 201, response.json
    lock: dict[str, Any] = response.json  # type: ignore[assignment]
    return lock


def release(client: FlaskClient, admin: dict[str, str], participant_id: int, lock_id: int) -> dict[str, Any]:
    response = client.post(release_url(participant_id, lock_id), json={"reason": "query reopened"}, headers=admin)
    assert response.status_code == 200, response.json
    lock: dict[str, Any] = response.json  # type: ignore[assignment]
    return lock


def audit_actions(db: Session, participant_id: int) -> list[tuple[str, str, str | None]]:
    """(action, entity_type, reason) of the participant's audit events, oldest first."""
    rows = db.execute(
        select(AuditEvent.action, AuditEvent.entity_type, AuditEvent.reason)
        .where(AuditEvent.participant_id == participant_id)
        .order_by(AuditEvent.id)
    )
    return [(row.action, row.entity_type, row.reason) for row in rows]


def audit_count(db: Session, participant_id: int) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.participant_id == participant_id)
    return db.scalar(query) or 0


def local_noon(day: date) -> str:
    """Noon of a Tehran local date, as the app sends times (with the offset)."""
    return f"{day.isoformat()}T12:00:00+03:30"
