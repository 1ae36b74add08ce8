"""Staff users of a study and the sites they work at."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.models import TimestampMixin, str_enum
from backend.db import Base
from backend.studies.models import Site, Study


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # the whole study
    INVESTIGATOR = "investigator"  # their sites, including withdrawals
    NURSE = "nurse"  # their sites: enrolment, activation, review
    MONITOR = "monitor"  # their sites, read only


site_membership = Table(
    "site_membership",
    Base.metadata,
    Column("staff_user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("site.id", ondelete="CASCADE"), primary_key=True),
)


class StaffUser(TimestampMixin, Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id"), index=True)
    # Work e-mail, stored lower-case; it is the login, not a patient identifier.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None]

    study: Mapped[Study] = relationship()
    sites: Mapped[list[Site]] = relationship(secondary=site_membership, order_by="Site.code")

    @property
    def site_ids(self) -> set[int]:
        return {site.id for site in self.sites}
