"""Column helpers shared by the domain models."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Enum
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.timeutil import utcnow

E = TypeVar("E", bound=enum.Enum)


def str_enum(enum_cls: type[E], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, the same on every database."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(str(m.value)) for m in enum_cls),
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
