"""The fixtures every test package shares.

Wiring: one migrated database per run (SQLite file, or PostgreSQL from
LIMBTRACK_TEST_DATABASE_URL), and per-test rollback with the savepoint recipe, so every
test starts from the migrated, empty schema whatever it committed; the app and its client;
`count_queries`.

Scene: `clock` (frozen at `start_time`, T0 unless a package overrides `start_time`), a
TEH-01 `nurse` and her `staff` headers, the `patient` headers of the package's
`participant`, and `enrol` for a patient's phone (`tests.diary.helpers.Patient`). A
package's conftest keeps only what is its own: its participant, its instant, its scene."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from backend import migrations
from backend.app import create_app
from backend.config import Config
from backend.db import Database, make_engine
from backend.participants.models import Participant
from backend.staff.models import StaffUser
from tests.diary.helpers import Patient, enrolled_patient
from tests.factories import Factory
from tests.helpers import T0

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def test_config(**overrides: object) -> Config:
    settings: dict[str, object] = {
        "env": "testing",
        "secret_key": TEST_SECRET,
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 1024,
        "log_level": "WARNING",
    }
    settings.update(overrides)
    return Config(**settings)  # type: ignore[arg-type]


test_config.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _no_outside_network() -> Iterator[None]:
    """Fail any test that tries to reach a host outside this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or self.family == socket.AF_UNIX
        ):
            raise RuntimeError(f"test tried to reach {host}: tests never leave this machine")
        return real_connect(self, address)  # type: ignore[arg-type]

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("LIMBTRACK_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'limbtrack-test.db'}"


@contextmanager
def fresh_database_url(tmp_dir: Path, name: str) -> Iterator[str]:
    """A new, empty database of the suite's kind, for a test that must commit: an SQLite
    file in `tmp_dir`, or a PostgreSQL database beside the test one, dropped afterwards."""
    base = os.environ.get("LIMBTRACK_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_dir / f'{name}.db'}"
        return
    url = make_url(make_engine(base).url)
    database = f"limbtrack_{name}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield url.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated database that this test (and any server it starts) commits to."""
    with fresh_database_url(tmp_path, "own") as url:
        engine = make_engine(url)
        try:
            migrations.upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(database_url(tmp_path_factory.mktemp("db")))
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session inside the test's transaction; its commits are savepoints."""
    session = session_factory()
    yield session
    session.close()


@dataclass
class QueryCount:
    """What ran inside a `count_queries()` block: each SQL statement (without the savepoints
    of the test's own transaction wiring), and how many session commits."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0


CountQueries = Callable[[], AbstractContextManager[QueryCount]]
_WIRING = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextmanager
def _counting(bind: Engine | Connection, sessions: sessionmaker[Session]) -> Iterator[QueryCount]:
    counted = QueryCount()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not sql.lstrip().upper().startswith(_WIRING):
            counted.statements.append(sql)

    def commit(_session: Session) -> None:
        counted.commits += 1

    event.listen(bind, "before_cursor_execute", statement)
    event.listen(sessions, "after_commit", commit)
    try:
        yield counted
    finally:
        event.remove(sessions, "after_commit", commit)
        event.remove(bind, "before_cursor_execute", statement)


@pytest.fixture
def count_queries(engine: Engine, session_factory: sessionmaker[Session]) -> CountQueries:
    """`with count_queries() as counted:` holds the statements and commits that the app and
    the test's sessions ran on the suite's database inside the block."""
    return lambda: _counting(engine, session_factory)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """Where this test's app stores photos (never the developer's var/)."""
    return tmp_path / "photos"


@pytest.fixture
def trial_database_url(tmp_path: Path) -> str:
    """This test's trial database (the sync's target; never the developer's var/)."""
    return f"sqlite:///{tmp_path / 'trial.db'}"


@pytest.fixture
def app(
    engine: Engine, session_factory: sessionmaker[Session], photo_dir: Path, trial_database_url: str
) -> Iterator[Flask]:
    app = create_app(
        test_config(photo_storage_dir=photo_dir, trial_database_url=trial_database_url),
        Database(engine, session_factory),
    )
    yield app
    app.extensions["limbtrack_trial_db"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make(db: Session, app: Flask, client: FlaskClient) -> Factory:
    """Factories for studies, staff, participants and signed-in headers."""
    return Factory(db, app, client)


@pytest.fixture
def start_time() -> datetime:
    """Where `clock` freezes time; a package's conftest overrides it."""
    return T0


@pytest.fixture
def clock(start_time: datetime) -> Iterator[time_machine.Traveller]:
    """Freeze the app clock at `start_time`; tests move it with `clock.move_to(...)`/`clock.shift(...)`."""
    with time_machine.travel(start_time, tick=False) as traveller:
        yield traveller


@pytest.fixture
def nurse(make: Factory, clock: time_machine.Traveller) -> StaffUser:
    """A nurse of TEH-01."""
    return make.staff("nurse", sites=("TEH-01",))


@pytest.fixture
def staff(make: Factory, nurse: StaffUser) -> dict[str, str]:
    """Authorization headers of the TEH-01 nurse."""
    return make.staff_headers(nurse)


@pytest.fixture
def enrol(make: Factory, clock: time_machine.Traveller) -> Callable[..., Patient]:
    """A patient's phone: `enrol(enrolled_at=..., timezone=..., day0_date=...)` registers a
    participant (Tehran, day 0 on 1 March unless told), enrols them and signs the app in."""

    def build(**overrides: Any) -> Patient:
        return enrolled_patient(make, **overrides)

    return build


@pytest.fixture
def patient(make: Factory, participant: Participant) -> dict[str, str]:
    """Authorization headers of the participant's app (the package defines `participant`)."""
    return make.patient_headers(participant)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.api import test_schemathesis

    if test_schemathesis.CASES["count"]:
        terminalreporter.write_line(f"schemathesis cases: {test_schemathesis.CASES['count']}")
