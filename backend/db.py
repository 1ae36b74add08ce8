"""Declarative base, UTC datetimes, and the engine/session wiring.

Plain SQLAlchemy 2 (not Flask-SQLAlchemy): the request gets one session from
`get_session()`, jobs use `session_scope()`, and tests bind the same sessionmaker to a
connection with an outer transaction so every test rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from backend.errors import Conflict, ValidationFailed

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC datetimes.

    SQLite keeps no offset, PostgreSQL converts to the session zone; normalising on
    both sides makes the two behave the same. Naive values are a bug and are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def make_engine(url: str, *, refuse_nul_text: bool = True, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, make transactions and foreign keys behave. Text with
    NUL is refused before it reaches the database (see NulInText), unless the caller only
    writes what it read from a database that already refused it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3 is our driver
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 15})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _make_sqlite_transactional(engine)
    if refuse_nul_text:
        # Dialect events: consulted where SQLAlchemy hands a statement to the driver.
        event.listen(engine, "do_execute", _refuse_nul_text)
        event.listen(engine, "do_executemany", _refuse_nul_text)
    return engine


class NulInText(ValidationFailed):
    """PostgreSQL cannot store the NUL character in text (nor \\u0000 in JSON), and raised
    a 500; SQLite would have kept it. Refused the same way on both, before any write."""


def _has_nul(value: Any) -> bool:
    """Whether NUL is in a string of a statement's parameters (a dict, or a list of them
    for executemany; values may be lists or dicts too)."""
    if isinstance(value, str):
        return "\x00" in value or "\\u0000" in value
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    for item in value:
        if isinstance(item, str):
            if "\x00" in item or "\\u0000" in item:
                return True
        elif isinstance(item, (dict, list, tuple)) and _has_nul(item):
            return True
    return False


def _refuse_nul_text(_cursor: Any, _statement: str, parameters: Any, _context: Any) -> None:
    if parameters and _has_nul(parameters):
        message = "Text may not contain the NUL character (\\u0000)."
        raise NulInText(message, errors={"json": {"_schema": [message]}})


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; the
    # SQLAlchemy documentation's recipe hands transaction control back to SQLAlchemy.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITER) else "BEGIN")


_WRITER = "limbtrack_sqlite_writer"
# Connection execution options that make SQLite's BEGIN take the write lock at once.
WRITER_OPTIONS: dict[str, Any] = {_WRITER: True}
T = TypeVar("T")


def once_more_after_conflict(session: Session, use_case: Callable[[], T]) -> T:
    """Run a use case that reads, then writes; if another request committed a row that
    breaks a unique constraint in between, roll back and run it once more: reading again
    finds that row (a replay to return, a version to file after, a row to update)."""
    try:
        return use_case()
    except IntegrityError:
        session.rollback()
        return use_case()


def flush_or_conflict(session: Session, message: str) -> None:
    """Flush; a unique key that a concurrent request took first is a 409 with `message`
    (the transaction rolled back, nothing half-written), not a 500."""
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(message) from exc


def begin_as_writer(session: Session) -> None:
    """Start the session's next transaction holding SQLite's write lock.

    SQLite cannot turn a reading transaction into a writing one once another connection
    has written meanwhile: it fails at once with "database is locked" (the busy timeout
    does not apply). A job that reads, then writes, while another copy of it runs takes
    the lock up front and waits its turn instead. Other databases ignore the option.
    """
    if not session.in_transaction():
        session.connection(execution_options={_WRITER: True})  # type: ignore[misc]  # our own option


# A pooled connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 10.0
_IDLE_SINCE = "limbtrack_idle_since"


def ping_when_idle(engine: Engine, after_s: float = PING_AFTER_IDLE_S) -> None:
    """Ping a pooled connection on checkout only when it sat idle for `after_s` seconds.

    pool_pre_ping pings on every checkout, before every request. What it guards
    against (a server restart, an idle timeout of the server or of a firewall) hits
    connections that sat idle; one that answered a moment ago is as good as a ping. A
    failed ping invalidates the pool (as pool_pre_ping does) and the pool retries with a
    new connection. A connection that dies while in use fails its statement: SQLAlchemy
    invalidates the pool and the client gets a 503 (errors.py)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)  # none yet: a new connection
        if idle_since is None or time.monotonic() - idle_since < after_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"ping after {after_s:g} s idle failed: {type(exc).__name__}") from exc


class Database:
    """The operational database of one app: an engine and its sessionmaker."""

    def __init__(self, engine: Engine, session_factory: sessionmaker[Session] | None = None) -> None:
        self.engine = engine
        self.sessionmaker = session_factory or sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S) -> Database:
        engine = make_engine(url)
        ping_when_idle(engine, ping_after_idle_s)
        return cls(engine)

    def init_app(self, app: Flask) -> None:
        app.extensions["limbtrack_db"] = self
        app.after_request(_commit_request_session)
        app.teardown_appcontext(_close_request_session)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """Give a job its own session; the job commits, anything else rolls back."""
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()


def get_database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["limbtrack_db"]  # type: ignore[no-any-return]


def get_session() -> Session:
    """Return the session of the current request (or app context), opening it lazily."""
    if "db_session" not in g:
        g.db_session = get_database().sessionmaker()
    return g.db_session  # type: ignore[no-any-return]


def _commit_request_session(response: Response) -> Response:
    """Commit once what a successful request left in its session: a use case that writes
    commits itself, but reads only add their access events (audit.record_access), which
    are kept here, at the end of the request, whatever number of reads it made. A request
    that failed (4xx, 5xx) commits nothing; the teardown rolls it back."""
    session: Session | None = g.get("db_session")
    if session is not None and session.in_transaction() and response.status_code < 400:
        session.commit()
    return response


def _close_request_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
