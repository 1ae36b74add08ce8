"""Apply a batch of offline entries one by one: each is validated and committed on its
own, so one bad item never loses the others, and a re-sent batch only finds duplicates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from backend.core.actor import Actor
from backend.diary.schemas import PainScoreCreateSchema
from backend.diary.service import record_pain_score
from backend.errors import DomainError
from backend.symptoms.schemas import SymptomReportCreateSchema
from backend.symptoms.service import record_symptom
from backend.walks.schemas import WalkTestCreateSchema
from backend.walks.service import record_walk_test

Recorder = Callable[[Session, Actor, dict[str, Any], datetime], tuple[Any, bool]]
HANDLERS: dict[str, tuple[Schema, Recorder]] = {
    "pain_score": (PainScoreCreateSchema(), record_pain_score),
    "walk_test": (WalkTestCreateSchema(), record_walk_test),
    "symptom_report": (SymptomReportCreateSchema(), record_symptom),
}


def sync_entries(session: Session, actor: Actor, items: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """Record each item through its own use case; report created, duplicate or refused."""
    results = [_apply(session, actor, index, item, now) for index, item in enumerate(items)]
    counts = {status: sum(r["status"] == status for r in results) for status in ("created", "duplicate", "refused")}
    return {**counts, "results": results}


def _apply(session: Session, actor: Actor, index: int, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    schema, record = HANDLERS[item["kind"]]
    raw_uuid = item["data"].get("client_uuid")
    result: dict[str, Any] = {
        "index": index,
        "kind": item["kind"],
        "client_uuid": raw_uuid if isinstance(raw_uuid, str) else None,
    }
    try:
        data = schema.load(item["data"])
        entry, created = record(session, actor, data, now)
    except ValidationError as exc:
        return {
            **result,
            "status": "refused",
            "code": "unprocessable_entity",
            "message": "The item is not valid.",
            "errors": {"data": exc.messages},
        }
    except DomainError as exc:
        session.rollback()  # this item's work only: earlier items are committed
        # Field errors name the item's data, as schema errors above do.
        errors = {"data": exc.errors["json"]} if exc.errors and "json" in exc.errors else exc.errors
        return {**result, "status": "refused", "code": exc.code, "message": exc.message, "errors": errors}
    return {**result, "status": "created" if created else "duplicate", "id": entry.id}
