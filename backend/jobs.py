"""Every periodic job in one place: its name, the function, and when cron should run it.

Jobs are plain, idempotent functions: safe to run twice, and the `flask jobs run NAME`
command or a task queue can call them unchanged with what they need (a session, the
time, the photo store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from backend.diary.service import scan_missed_diaries
from backend.reminders.service import retire_stale_devices
from backend.ulcers.storage import PhotoStore
from backend.ulcers.upkeep import sweep_orphan_photos


@dataclass(frozen=True)
class JobContext:
    session: Session
    now: datetime
    photo_store: PhotoStore


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[JobContext], int]
    cron: str
    description: str
    counts: str  # what the returned number counts


def _missed_diaries(ctx: JobContext) -> int:
    return scan_missed_diaries(ctx.session, ctx.now)


def _orphan_photos(ctx: JobContext) -> int:
    return sweep_orphan_photos(ctx.session, ctx.photo_store)


def _stale_devices(ctx: JobContext) -> int:
    return retire_stale_devices(ctx.session, ctx.now)


JOBS = (
    Job(
        "missed-diaries",
        _missed_diaries,
        "15 * * * *",
        "Flag participants with 3 closed diary days in a row without a score.",
        "new flags",
    ),
    Job(
        "orphan-photos",
        _orphan_photos,
        "40 * * * *",
        "Delete photo files that no photo record uses (an upload killed before its commit).",
        "files removed",
    ),
    Job(
        "stale-devices",
        _stale_devices,
        "50 3 * * *",
        "Retire push tokens not refreshed for 270 days.",
        "devices retired",
    ),
)
