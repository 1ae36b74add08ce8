"""A pooled database connection that died: replaced before use when it sat idle, or one
request answered 503 in the envelope (never a 500) when it was in use a moment ago; and a
connection that answered a moment ago is not pinged again. A database that refuses
connections is a 503 too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text
from sqlalchemy.pool import NullPool

from backend import migrations
from backend.app import create_app
from backend.db import Database, make_engine
from tests.conftest import fresh_database_url, test_config
from tests.test_errors import assert_envelope

# A route that reads the database before anything else: the bearer token's lookup.
PROBE = "/api/v1/me/pain-scores"
BOGUS = {"Authorization": "Bearer lta_no-such-token"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database_url(tmp_path_factory.mktemp("lost"), "lost") as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        yield url


class App:
    """The app on its own pool (not the suite's per-test transaction), and what it pinged."""

    def __init__(self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: Any) -> None:
        self.database = Database.from_url(url, **options)
        config = test_config(photo_storage_dir=tmp_path / "photos", trial_database_url=f"sqlite:///{tmp_path}/t.db")
        self.flask = create_app(config, self.database)
        self.client: FlaskClient = self.flask.test_client()
        self.pooled: list[Any] = []  # DB-API connections as they went back to the pool
        self.pings = 0
        event.listen(self.engine, "checkin", lambda dbapi_connection, _record: self.pooled.append(dbapi_connection))
        ping = self.engine.dialect.do_ping

        def counting_ping(dbapi_connection: Any) -> bool:
            self.pings += 1
            return ping(dbapi_connection)

        monkeypatch.setattr(self.engine.dialect, "do_ping", counting_ping)

    @property
    def engine(self) -> Engine:
        return self.database.engine

    def close(self) -> None:
        self.flask.extensions["limbtrack_trial_db"].dispose()
        self.engine.dispose()


@pytest.fixture
def make_app(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    apps: list[App] = []

    def make(**options: Any) -> App:
        apps.append(App(url, tmp_path, monkeypatch, **options))
        return apps[-1]

    yield make
    for app in apps:
        app.close()


def kill(app: App) -> None:
    """End the pooled connection's server side (PostgreSQL), or close it (SQLite)."""
    dbapi_connection = app.pooled[-1]
    if app.engine.dialect.name != "postgresql":
        dbapi_connection.close()  # the next use fails: "Cannot operate on a closed database."
        return
    admin = make_engine(app.engine.url.render_as_string(hide_password=False), poolclass=NullPool)
    try:
        with admin.connect() as conn:
            # The timeout makes it wait until the backend has gone.
            ended = conn.scalar(
                text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": dbapi_connection.info.backend_pid}
            )
        assert ended
    finally:
        admin.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(make_app: Any) -> None:
    app = make_app()
    for _ in range(3):
        assert_envelope(app.client.get(PROBE, headers=BOGUS), 401)
    assert app.pings == 0
    assert len(set(map(id, app.pooled))) == 1  # the same connection every time


def test_a_connection_that_died_while_idle_is_replaced_before_use(make_app: Any) -> None:
    app = make_app(ping_after_idle_s=0.0)  # every reuse counts as idle
    assert_envelope(app.client.get(PROBE, headers=BOGUS), 401)
    kill(app)
    assert_envelope(app.client.get(PROBE, headers=BOGUS), 401)  # not a 500, not a 503
    assert app.pings == 1
    assert app.pooled[-1] is not app.pooled[0]


def test_a_connection_lost_in_use_is_a_503_and_the_next_request_reconnects(make_app: Any) -> None:
    app = make_app()
    assert_envelope(app.client.get(PROBE, headers=BOGUS), 401)
    kill(app)
    response = app.client.get(PROBE, headers={**BOGUS, "X-Request-ID": "req-lost-0001"})
    body = assert_envelope(response, 503)
    assert body["code"] == "database_unavailable"
    assert body["request_id"] == "req-lost-0001"
    assert response.headers["Retry-After"] == "1"
    assert_envelope(app.client.get(PROBE, headers=BOGUS), 401)
    assert app.pings == 0


def test_a_database_that_refuses_connections_is_a_503(tmp_path: Path) -> None:
    database = Database.from_url("postgresql://postgres@127.0.0.1:9/nothing_listens_here")
    config = test_config(photo_storage_dir=tmp_path / "photos", trial_database_url=f"sqlite:///{tmp_path}/t.db")
    app = create_app(config, database)
    try:
        response = app.test_client().get(PROBE, headers={**BOGUS, "X-Request-ID": "req-down-0001"})
    finally:
        app.extensions["limbtrack_trial_db"].dispose()
        database.engine.dispose()

    body = assert_envelope(response, 503)
    assert (body["code"], body["request_id"]) == ("database_unavailable", "req-down-0001")
    assert response.headers["Retry-After"] == "1"
