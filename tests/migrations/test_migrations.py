"""Alembic head equals the models, every revision goes up and down on this database,
and the audit tables refuse UPDATE and DELETE in the database itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError

import backend.models  # noqa: F401
from backend import migrations
from backend.db import Base, make_engine
from tests.conftest import database_url
from tests.factories import Factory


def test_migrated_schema_matches_the_models(connection: Connection) -> None:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert compare_metadata(context, Base.metadata) == []


@pytest.fixture
def scratch_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the same kind as the test database."""
    url = make_url(database_url(tmp_path))
    if url.get_backend_name() != "postgresql":
        scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        yield scratch
        scratch.dispose()
        return
    name = f"limbtrack_scratch_{uuid.uuid4().hex[:12]}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    scratch = make_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield scratch
    finally:
        scratch.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_every_revision_upgrades_and_downgrades(scratch_engine: Engine) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(scratch_engine))
    revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    for revision in revisions:
        migrations.upgrade(scratch_engine, revision)
    assert "audit_event" in inspect(scratch_engine).get_table_names()
    for _ in revisions:
        migrations.downgrade(scratch_engine, "-1")
    assert set(inspect(scratch_engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(scratch_engine)  # and up again from nothing
    assert "participant" in inspect(scratch_engine).get_table_names()


@pytest.mark.parametrize("statement", ["UPDATE {table} SET action = 'x'", "DELETE FROM {table}"])
@pytest.mark.parametrize("table", ["audit_event", "access_event"])
def test_audit_tables_are_append_only_in_the_database(
    make: Factory, connection: Connection, table: str, statement: str
) -> None:
    participant = make.participant()
    make.db.commit()
    connection.execute(
        text(
            "INSERT INTO access_event (occurred_at, actor_type, resource, participant_id) "
            "VALUES (CURRENT_TIMESTAMP, 'staff', 'participant', :pid)"
        ),
        {"pid": participant.id},
    )
    column_fix = statement.replace("action = 'x'", "resource = 'x'") if table == "access_event" else statement
    savepoint = connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(column_fix.format(table=table)))
    savepoint.rollback()
    assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() >= 1
