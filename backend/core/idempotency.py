"""Replays of creates: the same client_uuid returns the original, a different payload
under the same client_uuid is refused (as in the IETF Idempotency-Key draft)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol, TypeVar
from uuid import UUID

from backend.errors import ValidationFailed


class Idempotent(Protocol):
    request_fingerprint: str


T = TypeVar("T", bound=Idempotent)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(payload: Mapping[str, Any]) -> str:
    """A stable hash of a validated request payload."""
    canonical = json.dumps(payload, sort_keys=True, default=_default, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(existing: T, request_fingerprint: str) -> T:
    """Return the original record of a replayed create, or refuse a reused client_uuid."""
    if existing.request_fingerprint != request_fingerprint:
        raise ValidationFailed(
            "This client_uuid was already used for a different request.",
            errors={"json": {"client_uuid": ["Already used with a different payload; generate a new one."]}},
        )
    return existing
