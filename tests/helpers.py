"""What many test packages share: the suite's usual instant, the error envelope of a
refusal, and row counts that prove a refused request wrote nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

TEHRAN = ZoneInfo("Asia/Tehran")  # +03:30 all year (no DST since 2022)

# A Monday, 12:30 in Tehran: local date 2026-03-02, after the factories' consent date
# (2026-01-10). Where `clock` freezes time unless a package says otherwise.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T0_TEHRAN = "2026-03-02T12:30:00+03:30"


def refused(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The error envelope of a refusal, checked; returns the whole body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    assert body["code"] == code and body["status"] == status and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def row_counts(db: Session, *models: type[Any]) -> dict[str, int]:
    """How many rows each model's table holds, by model name."""
    return {model.__name__: db.scalar(select(func.count()).select_from(model)) or 0 for model in models}


def new_uuid() -> str:
    return str(uuid.uuid4())
