"""Insert many rows in one statement that stays cheap to send.

SQLAlchemy's executemany of an INSERT renders one VALUES list per page of rows: at 500
rows and 10 columns that is 5,000 placeholders, and psycopg parses them on every call
(such long statements are not cached) — slower than the server's insert. On PostgreSQL
the rows go instead as one JSON parameter expanded by json_to_recordset; elsewhere (SQLite)
the plain executemany is fine. The JSON is written here by json.dumps in one call (only
dates, times and UUIDs go through `jsonable`), not value by value by SQLAlchemy's JSON type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Executable,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from backend.core.jsonable import jsonable


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ignore_duplicates: bool = False,
    returning: Sequence[Any] = (),
) -> Sequence[Any]:
    """INSERT `rows` (dicts with the same keys) into `table`, optionally ON CONFLICT DO
    NOTHING; the `returning` columns of the rows actually written come back."""
    if not rows:
        return []
    names = list(rows[0])
    statement: Any
    if session.get_bind().dialect.name != "postgresql":
        statement = sqlite.insert(table)
        if ignore_duplicates:
            statement = statement.on_conflict_do_nothing()
        return _run(session, statement.returning(*returning) if returning else statement, list(rows), returning)
    records = (
        func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
        .table_valued(*(column(name, _json_type(table.c[name].type)) for name in names))
        .render_derived(name="incoming", with_types=True)
    )
    statement = postgresql.insert(table).from_select(names, select(*records.c))
    if ignore_duplicates:
        statement = statement.on_conflict_do_nothing()
    document = json.dumps(rows, default=jsonable, separators=(",", ":"))
    return _run(session, statement.returning(*returning) if returning else statement, {"rows": document}, returning)


def _run(session: Session, statement: Executable, params: Any, returning: Sequence[Any]) -> Sequence[Any]:
    result = session.execute(statement, params)
    return result.all() if returning else []


def _json_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type json_to_recordset reads a column as (enums are VARCHAR with a CHECK here)."""
    if isinstance(type_, Enum | String):
        return String()
    if isinstance(getattr(type_, "impl", None), DateTime) or isinstance(type_, DateTime):
        return DateTime(timezone=True)
    return type_


def among(session: Session, column_: Any, ids: Sequence[int]) -> Any:
    """`column IN ids`, as `= ANY(:array)` on PostgreSQL: one parameter, not 500."""
    if session.get_bind().dialect.name == "postgresql":
        return column_ == any_(bindparam("among_ids", list(ids), type_=postgresql.ARRAY(Integer)))
    return column_.in_(ids)
