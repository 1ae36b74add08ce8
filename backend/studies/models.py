"""A study, its protocol versions (history is never rewritten), sites, cohorts, visits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.timeutil import utcnow
from backend.db import Base


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    registry_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    protocol_versions: Mapped[list[ProtocolVersion]] = relationship(
        back_populates="study", order_by="ProtocolVersion.loaded_at"
    )
    sites: Mapped[list[Site]] = relationship(back_populates="study", order_by="Site.code")
    cohorts: Mapped[list[Cohort]] = relationship(back_populates="study", order_by="Cohort.code")

    @property
    def current_protocol(self) -> ProtocolVersion | None:
        """The most recently loaded protocol version; earlier ones stay as history."""
        return self.protocol_versions[-1] if self.protocol_versions else None


class ProtocolVersion(Base):
    """One loaded protocol file, kept whole and immutable."""

    __tablename__ = "protocol_version"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(200))

    study: Mapped[Study] = relationship(back_populates="protocol_versions")
    visits: Mapped[list[Visit]] = relationship(back_populates="protocol_version", order_by="Visit.target_day")


class Visit(Base):
    """A visit of one protocol version: target study day and inclusive window."""

    __tablename__ = "visit"
    __table_args__ = (UniqueConstraint("protocol_version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol_version_id: Mapped[int] = mapped_column(ForeignKey("protocol_version.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    target_day: Mapped[int]
    window_start_day: Mapped[int]
    window_end_day: Mapped[int]
    injection: Mapped[bool] = mapped_column(default=False)

    protocol_version: Mapped[ProtocolVersion] = relationship(back_populates="visits")


class Site(Base):
    __tablename__ = "site"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))

    study: Mapped[Study] = relationship(back_populates="sites")


class Cohort(Base):
    __tablename__ = "cohort"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)

    study: Mapped[Study] = relationship(back_populates="cohorts")
