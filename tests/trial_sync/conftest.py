"""The trial database of the sync tests: an SQLite file, or, when the suite runs on
PostgreSQL, a PostgreSQL database of its own (the sync commits to it, so each test starts
from a dropped schema)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend.db import make_engine
from backend.trial_sync.target import FAMILY_VIEWS, metadata, open_target
from tests.conftest import fresh_database_url


@pytest.fixture(scope="session")
def _postgres_trial_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    if not os.environ.get("LIMBTRACK_TEST_DATABASE_URL"):
        yield None
        return
    with fresh_database_url(tmp_path_factory.mktemp("trial"), "trial") as url:
        yield url


@pytest.fixture
def trial_database_url(tmp_path: Path, _postgres_trial_database: str | None) -> str:
    if _postgres_trial_database is None:
        return f"sqlite:///{tmp_path / 'trial.db'}"
    engine = make_engine(_postgres_trial_database)
    with engine.begin() as conn:
        for view in FAMILY_VIEWS.values():
            conn.execute(text(f"DROP VIEW IF EXISTS {view}"))
        metadata.drop_all(conn)
    engine.dispose()
    return _postgres_trial_database


@pytest.fixture
def target(trial_database_url: str) -> Iterator[Engine]:
    """The migrated trial database, empty."""
    engine = open_target(trial_database_url)
    yield engine
    engine.dispose()
