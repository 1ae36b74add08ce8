"""Alembic environment: the models' metadata, and an engine from the caller or the config."""

from __future__ import annotations

from alembic import context

import backend.models  # noqa: F401  (registers every table on Base.metadata)
from backend.config import Config
from backend.db import Base, make_engine

target_metadata = Base.metadata


def run_migrations() -> None:
    engine = context.config.attributes.get("engine") or make_engine(Config.from_env().database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
