"""Times of the reminder tests."""

from __future__ import annotations

from datetime import UTC, datetime

# Thursday 2026-03-05, 10:00 in Tehran (+03:30, no DST).
T0 = datetime(2026, 3, 5, 6, 30, tzinfo=UTC)
