"""Ulcers, their photos, the estimator's analyses and the nurses' reviews.

An analysis is what an algorithm version said about a photo; a review is what a nurse
decided. Only a reviewed area is a measurement: the analysis stays provisional.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.core.models import PatientEntryMixin, str_enum
from backend.db import Base
from backend.participants.models import Leg


class UlcerLocation(enum.StrEnum):
    HALLUX = "hallux"
    LESSER_TOE = "lesser_toe"
    FOREFOOT_DORSAL = "forefoot_dorsal"
    FOREFOOT_PLANTAR = "forefoot_plantar"
    MIDFOOT = "midfoot"
    HEEL = "heel"
    MALLEOLUS_LATERAL = "malleolus_lateral"
    MALLEOLUS_MEDIAL = "malleolus_medial"
    LOWER_LEG = "lower_leg"
    STUMP = "stump"
    OTHER = "other"


class Ulcer(Base):
    __tablename__ = "ulcer"
    __table_args__ = (
        UniqueConstraint("participant_id", "client_uuid"),
        UniqueConstraint("participant_id", "label"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))  # indexed by the unique keys
    client_uuid: Mapped[uuid.UUID] = mapped_column(Uuid)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(40))  # "A", "heel ulcer": never a name
    leg: Mapped[Leg] = mapped_column(str_enum(Leg, "leg"))
    location: Mapped[UlcerLocation] = mapped_column(str_enum(UlcerLocation, "ulcer_location"))
    first_seen_on: Mapped[date]
    created_at: Mapped[datetime]
    created_by_type: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int]
    # The first staff-recorded closure; later closures confirm it (see UlcerClosure).
    healed_on: Mapped[date | None]

    closures: Mapped[list[UlcerClosure]] = relationship(order_by="UlcerClosure.observed_on")


class UlcerClosure(Base):
    """Staff saw the ulcer completely epithelialised (area 0) on a date. Healing is
    confirmed by a second closure at least two weeks later, so there may be several."""

    __tablename__ = "ulcer_closure"
    __table_args__ = (UniqueConstraint("ulcer_id", "observed_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ulcer_id: Mapped[int] = mapped_column(ForeignKey("ulcer.id"), index=True)
    observed_on: Mapped[date]
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    CORRECTED = "corrected"
    REJECTED = "rejected"


class UlcerPhoto(PatientEntryMixin, Base):
    """One uploaded photo. The stored image is re-encoded from clean pixels (no metadata);
    `received_sha256` is the hash of the bytes the phone sent, kept for provenance."""

    __tablename__ = "ulcer_photo"
    __table_args__ = (UniqueConstraint("participant_id", "client_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ulcer_id: Mapped[int] = mapped_column(ForeignKey("ulcer.id"), index=True)
    received_sha256: Mapped[str] = mapped_column(String(64))
    received_bytes: Mapped[int]
    received_format: Mapped[str] = mapped_column(String(8))  # JPEG, PNG, HEIF: decided by content
    storage_key: Mapped[str] = mapped_column(String(200), index=True)  # content hash of the stored image
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    seed_x: Mapped[float | None]
    seed_y: Mapped[float | None]
    patient_outline: Mapped[list[list[float]] | None] = mapped_column(JSON)
    patient_box: Mapped[list[float] | None] = mapped_column(JSON)  # [x0, y0, x1, y1] upright px
    # The marker the protocol printed when the photo was taken: a reanalysis years later
    # measures against this one, not against whatever the protocol says by then.
    marker_side_mm: Mapped[float]
    marker_color_srgb: Mapped[list[int]] = mapped_column(JSON)
    review_status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, "review_status"), default=ReviewStatus.PENDING, index=True
    )

    ulcer: Mapped[Ulcer] = relationship()
    analyses: Mapped[list[PhotoAnalysis]] = relationship(
        back_populates="photo", order_by="PhotoAnalysis.id", cascade="save-update, merge"
    )
    review: Mapped[PhotoReview | None] = relationship(back_populates="photo")

    @property
    def analysis(self) -> PhotoAnalysis | None:
        """The newest algorithm version's result (older ones stay, for comparison)."""
        return self.analyses[-1] if self.analyses else None


class PhotoAnalysis(Base):
    __tablename__ = "photo_analysis"
    __table_args__ = (UniqueConstraint("photo_id", "algorithm_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("ulcer_photo.id"), index=True)
    algorithm_version: Mapped[str] = mapped_column(String(32))
    analysed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32))
    outline: Mapped[list[list[float]] | None] = mapped_column(JSON)
    area_px: Mapped[float | None]
    area_mm2: Mapped[float | None]
    marker_corners: Mapped[list[list[float]] | None] = mapped_column(JSON)
    mm_per_px: Mapped[float | None]
    homography: Mapped[list[list[float]] | None] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON)
    # Why the patient should take the photo again (empty when it is fine).
    retake: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")

    photo: Mapped[UlcerPhoto] = relationship(back_populates="analyses")


class ReviewDecision(enum.StrEnum):
    ACCEPT = "accept"
    CORRECT = "correct"
    REJECT = "reject"


class RejectReason(enum.StrEnum):
    BLURRED = "blurred"
    NO_MARKER = "no_marker"
    WRONG_ULCER = "wrong_ulcer"
    OTHER = "other"


class PhotoReview(Base):
    """A nurse's decision on a photo. Accepted or corrected, its area is the measurement."""

    __tablename__ = "photo_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("ulcer_photo.id"), unique=True)
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("photo_analysis.id"))
    decision: Mapped[ReviewDecision] = mapped_column(str_enum(ReviewDecision, "review_decision"))
    reject_reason: Mapped[RejectReason | None] = mapped_column(str_enum(RejectReason, "reject_reason"))
    note: Mapped[str | None] = mapped_column(String(1000))
    outline: Mapped[list[list[float]] | None] = mapped_column(JSON)
    area_px: Mapped[float | None]
    area_mm2: Mapped[float | None]
    reviewed_at: Mapped[datetime]
    reviewed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))

    photo: Mapped[UlcerPhoto] = relationship(back_populates="review")
