"""The sync's own tables in the trial database, and the schema steps that create them.

The trial database belongs to the trial's data managers: the sync creates and migrates
only the tables and views named here (docs/design.md, "Trial endpoint tables") and touches
nothing else there. Its schema version lives in `limbtrack_sync_schema`, so a newer
LimbTrack can add steps without Alembic reaching into somebody else's database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Column,
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
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from backend.db import WRITER_OPTIONS, UTCDateTime, make_engine

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
    # on the way in: scanning the sync's ~90,000-row inserts again cost ~0.2 s a run.
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


def refresh_views(conn: Connection, endpoints: Iterable[dict[str, Any]]) -> bool:
    """(Re)create the family views for these protocol endpoints when their definition
    changed; returns whether anything was written."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for endpoint in endpoints:
        if endpoint["family"] in FAMILY_VIEWS:
            by_family.setdefault(endpoint["family"], []).append(endpoint)
    changed = False
    for family, items in sorted(by_family.items()):
        codes = sorted({item["code"] for item in items})
        sql = view_sql(family, codes, any(item["per_ulcer"] for item in items))
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
