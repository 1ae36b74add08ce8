"""The entry rules under their former name, for the packages not yet moved to
`backend.entries.service` (ulcers, tasks). Import that module in new code; this one goes
once nothing imports it."""

from __future__ import annotations

from backend.entries.service import (
    correct_entry,
    entries_query,
    field_error,
    find_replay,
    provenance,
    require_active,
    study_day,
    time_entry,
)

__all__ = [
    "correct_entry",
    "entries_query",
    "field_error",
    "find_replay",
    "provenance",
    "require_active",
    "study_day",
    "time_entry",
]
