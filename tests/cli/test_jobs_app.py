"""The jobs app that cron runs (`flask jobs crontab`): every cron line's command works in
it, and it imports neither the web side nor numpy (only measuring a photo needs it): each
would add to the start of a command that cron runs every minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from backend.jobs import JOBS, crontab

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: which modules a process imports is only visible there.
SCRIPT = """
import json, sys
from backend.app import create_jobs_app

app = create_jobs_app()
runner = app.test_cli_runner()
outputs = {}
for line in sys.argv[1:]:
    args = line.split()
    result = runner.invoke(args=args)
    outputs[line] = [result.exit_code, result.output]
web = sorted(m for m in sys.modules if m in ("backend.web", "flask_smorest", "apispec", "alembic", "numpy")
             or m.endswith(".routes") or m.endswith(".schemas") or m.startswith("backend.portal"))
print(json.dumps({"outputs": outputs, "web_modules": web}))
"""


def test_every_cron_command_runs_in_the_jobs_app_without_the_web_side(tmp_path: Path) -> None:
    lines = crontab("/srv/limbtrack")
    assert len(lines) == len(JOBS) and all("FLASK_APP=backend.app:create_jobs_app " in line for line in lines)
    cron = [line.split(".venv/bin/flask ", 1)[1] for line in lines]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}",
        "TRIAL_DATABASE_URL": f"sqlite:///{tmp_path / 'trial.db'}",
        "PHOTO_STORAGE_DIR": str(tmp_path / "photos"),
        "LIMBTRACK_ENV": "development",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("FIREBASE_CREDENTIALS", None)
    # The migration first (it imports Alembic, so in a process of its own), then cron's commands.
    migrate = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "-c", SCRIPT, "db upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    assert json.loads(migrate.stdout)["outputs"]["db upgrade"][0] == 0

    done = subprocess.run(  # noqa: S603 (fixed arguments)
        [sys.executable, "-c", SCRIPT, *cron], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for line, (code, output) in report["outputs"].items():
        assert code == 0, (line, output)
    assert any(out.startswith("reminders (log sender):") for _, out in report["outputs"].values())
    assert report["web_modules"] == []


def test_the_operations_guide_shows_the_crontab_the_registry_generates() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    shown = [line for line in guide.splitlines() if "cd /srv/limbtrack &&" in line]
    assert shown == crontab("/srv/limbtrack")
