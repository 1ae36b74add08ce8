"""On PostgreSQL the engine's cursors make `cursor.description`'s Column objects only when
something reads them (backend.db.LazyDescriptionCursor): the same columns as psycopg's
when read, and none at all when SQLAlchemy has the statement's result columns cached."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, literal, select

from backend.db import LazyDescriptionCursor


@pytest.fixture
def cursor(connection: Connection) -> Any:
    if connection.dialect.name != "postgresql":
        pytest.skip("a psycopg cursor: PostgreSQL only")
    cursor = connection.connection.cursor()
    assert isinstance(cursor, LazyDescriptionCursor)
    return cursor


def psycopg_description(cursor: Any) -> Any:
    """What psycopg's own property makes of the cursor's current result."""
    return psycopg.Cursor.description.fget(cursor)


def test_the_description_reads_as_psycopg_makes_it(cursor: Any) -> None:
    cursor.execute("SELECT 1 AS one, 'x'::text AS two, now() AS three")
    description = cursor.description
    assert len(description) == 3
    assert [tuple(column) for column in description] == [tuple(column) for column in psycopg_description(cursor)]
    assert [column.name for column in description] == ["one", "two", "three"]
    assert description[-1].name == "three"
    assert [column.name for column in description[1:]] == ["two", "three"]


def test_results_without_columns_describe_as_psycopg_says(cursor: Any) -> None:
    cursor.execute("SELECT")  # rows of no columns
    assert cursor.description == []
    cursor.execute("SET LOCAL lock_timeout = '5s'")  # no rows at all
    assert cursor.description is None


def test_a_description_read_after_the_cursor_moved_on_is_refused(cursor: Any) -> None:
    cursor.execute("SELECT 1 AS one")
    description = cursor.description
    cursor.execute("SELECT 2 AS two")
    with pytest.raises(psycopg.InterfaceError):
        description[0]
    assert cursor.description[0].name == "two"


def test_sqlalchemy_makes_no_columns_for_a_statement_it_has_cached(
    cursor: Any, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    plain = psycopg.Cursor.description

    def counting(self: Any) -> Any:
        columns = plain.fget(self)
        made.append(len(columns or ()))
        return columns

    monkeypatch.setattr(psycopg.Cursor, "description", property(counting))
    statement = select(literal(7).label(f"new_{uuid.uuid4().hex}"))  # not in the cache yet

    first = connection.execute(statement)
    assert made == [1], "the first run reads the columns (SQLAlchemy caches them)"
    assert first.scalar_one() == 7

    made.clear()
    again = connection.execute(statement)
    assert made == []
    assert list(again.keys()) == [statement.selected_columns[0].name]
    assert again.scalar_one() == 7
