"""Every periodic job in one place: its name, the function, and when cron should run it.

Jobs are plain, idempotent functions of (session, now): safe to run twice, and the
`flask jobs run NAME` command or a task queue can call them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from backend.diary.service import scan_missed_diaries


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Session, datetime], int]
    cron: str
    description: str


JOBS = (
    Job(
        "missed-diaries",
        scan_missed_diaries,
        "15 * * * *",
        "Flag participants with 3 closed diary days in a row without a score.",
    ),
)
