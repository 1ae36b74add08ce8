"""The nurse's review of a photo: accept the estimate, correct or draw the outline, or
reject the photo. Only a reviewed area is a measurement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from backend.audit.service import record_audit, snapshot
from backend.core.actor import Actor
from backend.db import flush_or_conflict
from backend.errors import Conflict, ValidationFailed
from backend.imaging import polygon
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.participants.scope import scope_participants
from backend.ulcers.models import PhotoAnalysis, PhotoReview, ReviewDecision, ReviewStatus, UlcerPhoto
from backend.ulcers.photos import photo_in_scope


def review_queue(actor: Actor) -> Select[UlcerPhoto]:
    """Unreviewed photos of the actor's sites, oldest first."""
    visible = scope_participants(select(Participant.id), actor)
    return (
        select(UlcerPhoto)
        .where(UlcerPhoto.participant_id.in_(visible), UlcerPhoto.review_status == ReviewStatus.PENDING)
        .options(selectinload(UlcerPhoto.analyses))
        .order_by(UlcerPhoto.received_at, UlcerPhoto.id)
    )


def review_photo(session: Session, actor: Actor, photo_id: int, data: dict[str, Any], now: datetime) -> UlcerPhoto:
    """Accept, correct or reject a photo's estimate. An accepted or corrected area is a
    measurement; a correction's area goes through the same homography as the estimate."""
    photo = photo_in_scope(session, actor, photo_id)
    _check_decision_fields(data)
    if photo.review is not None:
        raise Conflict(f"Photo {photo_id} was already reviewed ({photo.review_status.value}).")
    analysis = photo.analysis
    seen = data.get("algorithm_version")
    if seen is not None and (analysis is None or analysis.algorithm_version != seen):
        current = analysis.algorithm_version if analysis else "none"
        raise Conflict(f"The estimate changed since you opened the photo (now version {current}); look again.")
    # Before the review object exists: it joins the session through the photo, and the
    # lock query would flush it half-built.
    ensure_writable(session, actor, session.get_one(Participant, photo.participant_id), photo.local_date)
    decision: ReviewDecision = data["decision"]
    review = PhotoReview(
        photo=photo,
        analysis_id=analysis.id if analysis else None,
        decision=decision,
        note=data.get("note"),
        reviewed_at=now,
        reviewed_by_id=actor.id,
    )
    if decision == ReviewDecision.REJECT:
        review.reject_reason = data["reject_reason"]
        photo.review_status = ReviewStatus.REJECTED
    elif decision == ReviewDecision.ACCEPT:
        if analysis is None or analysis.area_mm2 is None or not analysis.outline:
            raise ValidationFailed(
                "There is no calibrated area to accept (no marker or no ulcer found): correct the outline "
                "if the marker was found, or reject the photo.",
                errors={"json": {"decision": ["Nothing to accept."]}},
            )
        review.outline, review.area_px, review.area_mm2 = analysis.outline, analysis.area_px, analysis.area_mm2
        photo.review_status = ReviewStatus.ACCEPTED
    else:
        review.outline = data["outline"]
        review.area_px, review.area_mm2 = _measure_outline(data["outline"], photo, analysis)
        photo.review_status = ReviewStatus.CORRECTED
    session.add(review)
    flush_or_conflict(session, f"Photo {photo_id} was reviewed by someone else a moment ago.")
    record_audit(
        session,
        actor,
        "ulcer_photo.review",
        review,
        after=snapshot(review),
        reason=data.get("note"),
        participant_id=photo.participant_id,
        now=now,
    )
    session.commit()
    return photo


def _measure_outline(
    outline: list[list[float]], photo: UlcerPhoto, analysis: PhotoAnalysis | None
) -> tuple[float, float]:
    """The area of an outline the nurse corrected or drew, through the photo's homography."""
    if analysis is None or analysis.homography is None or not analysis.marker_corners:
        raise ValidationFailed(
            "No calibration marker was found in this photo, so an outline cannot be measured in mm²; "
            "reject it with reason no_marker.",
            errors={"json": {"decision": ["No marker to measure against."]}},
        )
    try:
        polygon.check_polygon(outline, photo.width, photo.height)
        return polygon.area_px(outline), polygon.area_mm2(outline, analysis.homography, analysis.marker_corners)
    except polygon.PolygonRejected as exc:
        raise ValidationFailed(str(exc), errors={"json": {"outline": [str(exc)]}}) from None


def _check_decision_fields(data: dict[str, Any]) -> None:
    """Which fields go with which decision (a rule of the request the spec cannot express)."""
    decision = data["decision"]
    problems: dict[str, list[str]] = {}
    if decision == ReviewDecision.REJECT and data.get("reject_reason") is None:
        problems["reject_reason"] = ["A rejection needs a reason."]
    if decision != ReviewDecision.REJECT and data.get("reject_reason") is not None:
        problems["reject_reason"] = ["Only a rejection has a reason."]
    if decision == ReviewDecision.CORRECT and data.get("outline") is None:
        problems["outline"] = ["A correction needs the corrected outline."]
    if decision != ReviewDecision.CORRECT and data.get("outline") is not None:
        problems["outline"] = ["Only a correction sends an outline."]
    if problems:
        raise ValidationFailed("The review's fields do not match its decision.", errors={"json": problems})
