"""The application factories: a readable list of what the app is made of.

`create_app` is the web application (`wsgi.py`). Cron jobs use `create_jobs_app`: the same
configuration, database, services and `flask` commands without the web side, whose
modules take about as long to import and register as the rest together — and
`flask reminders dispatch` starts every minute.
"""

from __future__ import annotations

from flask import Flask

from backend import (
    cli,
    receivers,  # noqa: F401  (connects every signal receiver)
)
from backend.auth.service import AuthSettings
from backend.config import Config
from backend.core import request_context
from backend.db import Database
from backend.trial_sync.target import TrialDatabase
from backend.ulcers.storage import FilesystemPhotoStore


def create_app(config: Config | None = None, database: Database | None = None) -> Flask:
    """Build the web app; `config` defaults to the environment, `database` to config's URL."""
    from backend import web  # only here: the jobs app does without it

    config = config or Config.from_env()
    app = create_jobs_app(config, database)
    web.init_app(app, config)
    return app


def create_jobs_app(config: Config | None = None, database: Database | None = None) -> Flask:
    """The app without the API and the portal: what `flask` commands run in, from cron
    (`FLASK_APP=backend.app:create_jobs_app flask reminders dispatch`)."""
    config = config or Config.from_env()
    request_context.configure_logging(config.log_level)

    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=config.max_content_length, LIMBTRACK=config)
    (database or Database.from_url(config.database_url)).init_app(app)
    app.extensions["limbtrack_auth"] = AuthSettings.from_config(config)
    app.extensions["limbtrack_photo_store"] = FilesystemPhotoStore(config.photo_storage_dir)
    app.extensions["limbtrack_trial_db"] = TrialDatabase(config.trial_database_url)
    cli.init_app(app)
    return app
