"""Every periodic job in one place: its name, what it runs, and when cron should run it.

Jobs are idempotent: safe to run twice, or from two machines at once. Most are plain
functions that `flask jobs run NAME` calls with what they need (a session, the time, the
photo store); the reminder dispatcher and the trial sync have commands of their own
(options, a sender or a second database, reports of their own) and are listed here with
them, so `flask jobs crontab` prints every line cron needs.
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

JOBS_APP = "backend.app:create_jobs_app"  # configuration, database and commands; no API, no portal


@dataclass(frozen=True)
class JobContext:
    session: Session
    now: datetime
    photo_store: PhotoStore


@dataclass(frozen=True)
class Job:
    name: str
    cron: str  # minute hour day-of-month month day-of-week
    description: str
    command: tuple[str, ...]  # the `flask` arguments cron runs
    run: Callable[[JobContext], int] | None = None  # what `flask jobs run NAME` calls
    counts: str = ""  # what the number `run` returns counts


def _missed_diaries(ctx: JobContext) -> int:
    return scan_missed_diaries(ctx.session, ctx.now)


def _orphan_photos(ctx: JobContext) -> int:
    return sweep_orphan_photos(ctx.session, ctx.photo_store)


def _stale_devices(ctx: JobContext) -> int:
    return retire_stale_devices(ctx.session, ctx.now)


JOBS = (
    Job(
        "missed-diaries",
        "15 * * * *",
        "Flag participants with 3 closed diary days in a row without a score.",
        ("jobs", "run", "missed-diaries"),
        _missed_diaries,
        "new flags",
    ),
    Job(
        "orphan-photos",
        "40 * * * *",
        "Delete photo files that no photo record uses (an upload killed before its commit).",
        ("jobs", "run", "orphan-photos"),
        _orphan_photos,
        "files removed",
    ),
    Job(
        "stale-devices",
        "50 3 * * *",
        "Retire push tokens not refreshed for 270 days.",
        ("jobs", "run", "stale-devices"),
        _stale_devices,
        "devices retired",
    ),
    Job(
        "reminders-dispatch",
        "* * * * *",
        "Plan, claim and send the push reminders that are due (safe on several machines).",
        ("reminders", "dispatch"),
    ),
    Job(
        "trial-sync",
        "30 2 * * 1",
        "Derive endpoint values into the trial database (weekly; any quiet hour will do).",
        ("trial-sync", "run"),
    ),
)


def crontab(root: str, flask: str = ".venv/bin/flask") -> list[str]:
    """The crontab lines of every job, run from the checkout at `root` in the jobs app."""
    lines = []
    for job in JOBS:
        minute, rest = job.cron.split(" ", 1)
        lines.append(f"{minute:<2} {rest}  cd {root} && FLASK_APP={JOBS_APP} {flask} {' '.join(job.command)}")
    return lines
