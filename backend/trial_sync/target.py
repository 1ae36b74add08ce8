"""The sync's own tables in the trial database, and the schema steps that create them.

The trial database belongs to the trial's data managers: the sync creates and migrates
only the tables and views named here (docs/design.md, "Trial endpoint tables") and touches
nothing else there. Its schema version lives in `limbtrack_sync_schema`, so a newer
LimbTrack can add steps without Alembic reaching into somebody else's database.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Date,
    Double,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError

from backend.db import WRITER_OPTIONS, UTCDateTime, make_engine
from backend.studies.document import EndpointRule

metadata = MetaData()

schema_version = Table(
    "limbtrack_sync_schema",
    metadata,
    Column("name", String(64), primary_key=True),  # "schema", or "view:<name>"
    Column("value", Text, nullable=False),  # the version, or the view's definition hash
)

sync_run = Table(
    "sync_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_code", String(64)),  # NULL: every study
    Column("mode", String(16), nullable=False),  # full or incremental
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # completed
    # The run derived what the operational database held up to this instant; the next
    # incremental run looks for changes after it (with a margin, see service.OVERLAP).
    Column("watermark", UTCDateTime(), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("missing", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("skipped_detail", Text),
)

endpoint_value = Table(
    "endpoint_value",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("study_code", String(64), nullable=False),
    Column("subject_code", String(32), nullable=False),
    Column("visit_code", String(32), nullable=False),
    Column("endpoint_code", String(64), nullable=False),
    Column("ulcer_label", String(40), nullable=False),  # '' when the endpoint is not per ulcer
    Column("family", String(32), nullable=False),
    Column("value", Double),
    Column("unit", String(32)),
    Column("n", Integer),
    Column("window_start_day", Integer, nullable=False),
    Column("window_end_day", Integer, nullable=False),
    Column("window_start_date", Date, nullable=False),
    Column("window_end_date", Date, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("source_ids", Text, nullable=False),  # JSON list of "table:id"
    Column("status", String(16), nullable=False),  # final, provisional, missing
    Column("missing_reason", String(32)),
    Column("sync_run_id", ForeignKey("sync_run.id"), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint(
        "study_code", "subject_code", "visit_code", "endpoint_code", "ulcer_label", name="uq_endpoint_value"
    ),
)

# The columns a derivation decides; a row whose derived columns are equal is unchanged.
DERIVED_COLUMNS = (
    "family",
    "value",
    "unit",
    "n",
    "window_start_day",
    "window_end_day",
    "window_start_date",
    "window_end_date",
    "rule",
    "rule_version",
    "source_ids",
    "status",
    "missing_reason",
)
KEY_COLUMNS = ("study_code", "subject_code", "visit_code", "endpoint_code", "ulcer_label")
FAMILY_VIEWS = {"rest_pain": "rest_pain_by_visit", "walk": "walk_by_visit", "ulcer": "ulcer_by_visit"}


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[sync_run, endpoint_value])


# Schema steps, in order; the trial database records how many have run.
STEPS: tuple[Callable[[Connection], None], ...] = (_create_tables,)


def open_target(url: str) -> Engine:
    """An engine on the trial database, with the sync's tables created or migrated."""
    # Everything written here was read from the operational database, which refused NUL
    # on the way in: no need to scan it again.
    engine = make_engine(url, refuse_nul_text=False, pool_pre_ping=True)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    with engine.connect() as conn, conn.execution_options(**WRITER_OPTIONS).begin():
        metadata.create_all(conn, tables=[schema_version])
        done = conn.scalar(select(schema_version.c.value).where(schema_version.c.name == "schema"))
        done_steps = int(done or 0)
        for step in STEPS[done_steps:]:
            step(conn)
        if done is None:
            conn.execute(schema_version.insert().values(name="schema", value=str(len(STEPS))))
        elif done_steps < len(STEPS):
            conn.execute(schema_version.update().where(schema_version.c.name == "schema").values(value=str(len(STEPS))))


def _column_name(endpoint_code: str, suffix: str = "") -> str:
    return re.sub(r"[^a-z0-9_]", "_", endpoint_code.lower()) + suffix


def view_sql(family: str, endpoint_codes: Iterable[str], per_ulcer: bool) -> str:
    """A wide view of one family: a row per subject and visit (and ulcer), a value and a
    status column per endpoint. Codes are protocol codes ([A-Z0-9_-]), safe as names."""
    name = FAMILY_VIEWS[family]
    columns = []
    for code in endpoint_codes:
        literal = "'" + code.replace("'", "''") + "'"
        columns.append(f'MAX(CASE WHEN endpoint_code = {literal} THEN value END) AS "{_column_name(code)}"')
        columns.append(f'MAX(CASE WHEN endpoint_code = {literal} THEN status END) AS "{_column_name(code, "_status")}"')
    keys = "study_code, subject_code, visit_code" + (", ulcer_label" if per_ulcer else "")
    return (
        f"CREATE VIEW {name} AS SELECT {keys}, {', '.join(columns)} "  # noqa: S608 (protocol codes, validated)
        f"FROM endpoint_value WHERE family = '{family}' GROUP BY {keys}"
    )


def _replace_view(conn: Connection, name: str, sql: str) -> None:
    """Replace a view in place where the database can (PostgreSQL, when columns are only
    added), so that whatever the statisticians built on it keeps working; otherwise drop
    and create it, and say clearly when something of theirs stands in the way."""
    if conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():
                conn.execute(text(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)))
            return
        except DBAPIError:
            pass  # columns removed or reordered: only drop-and-create can change that
    try:
        with conn.begin_nested():
            conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
            conn.execute(text(sql))
    except DBAPIError as exc:
        raise ViewBlocked(
            f"the view {name} must change but cannot be replaced: an object in the trial database depends on it"
        ) from exc


class ViewBlocked(RuntimeError):
    """Something in the trial database that is not ours depends on one of our views."""


def refresh_views(conn: Connection, endpoints: Iterable[EndpointRule]) -> bool:
    """(Re)create the family views for these protocol endpoints when their definition
    changed; returns whether anything was written."""
    by_family: dict[str, list[EndpointRule]] = {}
    for endpoint in endpoints:
        if endpoint.family in FAMILY_VIEWS:
            by_family.setdefault(endpoint.family, []).append(endpoint)
    changed = False
    for family, items in sorted(by_family.items()):
        codes = sorted({item.code for item in items})
        sql = view_sql(family, codes, any(item.per_ulcer for item in items))
        digest = hashlib.sha256(sql.encode()).hexdigest()
        key = f"view:{FAMILY_VIEWS[family]}"
        stored = conn.scalar(select(schema_version.c.value).where(schema_version.c.name == key))
        if stored == digest:
            continue
        _replace_view(conn, FAMILY_VIEWS[family], sql)
        if stored is None:
            conn.execute(schema_version.insert().values(name=key, value=digest))
        else:
            conn.execute(schema_version.update().where(schema_version.c.name == key).values(value=digest))
        changed = True
    return changed


class TrialDatabase:
    """The app's handle on the trial database, opened (and migrated) on first use, so an
    API process that never reads sync runs never touches it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_target(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


# ---------------------------------------------------------------- the sync's target, as a port


@dataclass
class Changes:
    """One chunk's writes: new rows, changed rows (with `row_id`), ids of rows to delete."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)


class TrialWrite(Protocol):
    """One run's transaction in the trial database: everything commits together, or nothing."""

    def try_lock(self) -> bool:
        """Take the one-sync-at-a-time lock for this transaction; False if another run holds it."""

    def previous_run(self, study_code: str | None) -> Any | None:
        """The last run whose scope covers this one's (every study, or this study)."""

    def open_run(self, mode: str, study_code: str | None, now: datetime) -> int: ...

    def close_run(self, run_id: int, counts: Mapping[str, int], skipped_detail: str | None, at: datetime) -> None: ...

    def refresh_views(self, endpoints: Iterable[EndpointRule]) -> bool: ...

    def current_rows(self, study_code: str, subject_codes: Sequence[str]) -> list[Any]:
        """The rows held for these subjects: `id`, the key columns and the derived ones."""

    def apply(self, changes: Changes, run_id: int, now: datetime) -> None: ...


class TrialTarget(Protocol):
    """Where the weekly sync writes its endpoint values (a deployment may swap it)."""

    def transaction(self) -> contextlib.AbstractContextManager[TrialWrite]:
        """A transaction that commits when the block ends normally, else rolls back."""


class SqlTrialTarget:
    """The trial database reached through SQLAlchemy (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[TrialWrite]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**WRITER_OPTIONS)
            with conn.begin():
                yield _SqlWrite(conn)


ADVISORY_LOCK_KEY = 0x4C494D42  # "LIMB": one sync at a time per trial database


class _SqlWrite:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def try_lock(self) -> bool:
        if self.conn.dialect.name != "postgresql":
            return True  # SQLite serialises writers itself
        return bool(self.conn.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY))))

    def previous_run(self, study_code: str | None) -> Any | None:
        scope: ColumnElement[bool] = sync_run.c.study_code.is_(None)
        if study_code is not None:
            scope = scope | (sync_run.c.study_code == study_code)
        return self.conn.execute(select(sync_run).where(scope).order_by(sync_run.c.id.desc()).limit(1)).first()

    def open_run(self, mode: str, study_code: str | None, now: datetime) -> int:
        zero = dict.fromkeys(RUN_COUNTS, 0)
        values = dict(
            study_code=study_code, mode=mode, started_at=now, finished_at=now, status="running", watermark=now
        )
        run_id: int = self.conn.execute(
            sync_run.insert().values(**values, **zero).returning(sync_run.c.id)
        ).scalar_one()
        return run_id

    def close_run(self, run_id: int, counts: Mapping[str, int], skipped_detail: str | None, at: datetime) -> None:
        self.conn.execute(
            update(sync_run)
            .where(sync_run.c.id == run_id)
            .values(status="completed", finished_at=at, skipped_detail=skipped_detail, **counts)
        )

    def refresh_views(self, endpoints: Iterable[EndpointRule]) -> bool:
        return refresh_views(self.conn, endpoints)

    def current_rows(self, study_code: str, subject_codes: Sequence[str]) -> list[Any]:
        query = select(endpoint_value).where(
            endpoint_value.c.study_code == study_code, endpoint_value.c.subject_code.in_(list(subject_codes))
        )
        return list(self.conn.execute(query))

    def apply(self, changes: Changes, run_id: int, now: datetime) -> None:
        """Write one chunk's inserts, updates and deletes (executemany, not row by row)."""
        stamp = {"sync_run_id": run_id, "updated_at": now}
        if changes.inserts:
            self.conn.execute(endpoint_value.insert(), [{**row, **stamp} for row in changes.inserts])
        if changes.updates:
            statement = (
                update(endpoint_value)
                .where(endpoint_value.c.id == bindparam("new_row_id"))
                .values({c: bindparam(f"new_{c}") for c in (*DERIVED_COLUMNS, "sync_run_id", "updated_at")})
            )
            rows = [{f"new_{k}": v for k, v in {**row, **stamp}.items()} for row in changes.updates]
            self.conn.execute(statement, rows)
        if changes.deletes:
            self.conn.execute(delete(endpoint_value).where(endpoint_value.c.id.in_(changes.deletes)))


# The counts a run reports and keeps in its ledger row.
RUN_COUNTS = ("participants", "inserted", "updated", "unchanged", "skipped", "missing", "removed")
