"""The comparison endpoint: Flask + SQLAlchemy, one POST that inserts one row.

No authentication, no validation, no audit, no JSON schema: it reads the JSON body,
inserts one row into its own table (`bench_minimal_score`, in the benchmark's database)
and returns 201 with the new id. It is what LimbTrack's POST /api/v1/me/pain-scores is
measured against.

Served by the benchmark as `gunicorn -w 2 'bench.minimal_app:create_app()'` with
BENCH_MINIMAL_DATABASE_URL set; the benchmark creates the table before starting it.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy import DateTime, Engine, Uuid, create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

URL_ENV = "BENCH_MINIMAL_DATABASE_URL"
PATH = "/scores"


class Base(DeclarativeBase):
    pass


class MinimalScore(Base):
    __tablename__ = "bench_minimal_score"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient: Mapped[int]
    client_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    score: Mapped[int]
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def psycopg_url(url: str) -> str:
    """postgresql://… → postgresql+psycopg://… (psycopg 3, the driver LimbTrack uses)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    # SQLAlchemy's defaults (QueuePool of 5, no pre-ping): what a minimal app gets.
    return create_engine(psycopg_url(url))


def create_app(url: str | None = None) -> Flask:
    engine = make_engine(url or os.environ[URL_ENV])
    session_factory: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
    app = Flask(__name__)
    app.extensions["bench_engine"] = engine

    @app.post(PATH)
    def post_score() -> Any:
        body = request.get_json()
        with session_factory() as session:
            row = MinimalScore(
                patient=body["patient"],
                client_uuid=uuid.UUID(body["client_uuid"]),
                score=body["score"],
                recorded_at=datetime.fromisoformat(body["recorded_at"]),
                received_at=datetime.now(UTC),
            )
            session.add(row)
            session.commit()
            return jsonify(id=row.id), 201

    @app.get("/healthz")
    def healthz() -> Any:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return jsonify(status="ok")

    return app
