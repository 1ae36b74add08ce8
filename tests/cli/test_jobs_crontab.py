"""`flask jobs crontab`: the crontab of every periodic job, generated from backend/jobs.py."""

from __future__ import annotations

from flask import Flask

from backend.jobs import JOBS

PREFIX = "cd /opt/lt && FLASK_APP=backend.app:create_jobs_app .venv/bin/flask"


def test_the_crontab_holds_every_job_the_dispatcher_and_the_trial_sync_included(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "crontab", "--root", "/opt/lt"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"15 * * * *  {PREFIX} jobs run missed-diaries",
        f"40 * * * *  {PREFIX} jobs run orphan-photos",
        f"50 3 * * *  {PREFIX} jobs run stale-devices",
        f"*  * * * *  {PREFIX} reminders dispatch",
        f"30 2 * * 1  {PREFIX} trial-sync run",
    ]


def test_every_job_has_a_five_field_schedule_and_a_unique_name() -> None:
    assert len({job.name for job in JOBS}) == len(JOBS)
    assert all(len(job.cron.split()) == 5 for job in JOBS)


def test_jobs_run_refuses_a_job_that_has_a_command_of_its_own(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "run", "trial-sync"])

    assert result.exit_code == 2
    assert "'trial-sync' is not one of 'missed-diaries', 'orphan-photos', 'stale-devices'" in result.output
