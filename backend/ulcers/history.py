"""An ulcer's areas by date: what the trial's area endpoints and the portal's chart read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from backend.audit.service import record_staff_read
from backend.core.actor import Actor
from backend.entries import service as entries
from backend.ulcers.models import UlcerPhoto
from backend.ulcers.service import ulcer_in_scope


def area_history(session: Session, actor: Actor, participant_id: int, ulcer_id: int, now: datetime) -> dict[str, Any]:
    """Every area of one ulcer by date: reviewed measurements (with percent change from the
    first reviewed one), provisional estimates, and recorded closures (area 0)."""
    participant, ulcer = ulcer_in_scope(session, actor, participant_id, ulcer_id)
    record_staff_read(session, actor, "ulcer_area_history", participant.id, now)
    photos = session.scalars(
        select(UlcerPhoto)
        .where(UlcerPhoto.ulcer_id == ulcer.id)
        .options(selectinload(UlcerPhoto.analyses), selectinload(UlcerPhoto.review))
        .order_by(UlcerPhoto.recorded_at, UlcerPhoto.id)
    ).all()
    points: list[dict[str, Any]] = []
    for photo in photos:
        review, analysis = photo.review, photo.analysis
        if review is not None and review.area_mm2 is not None:
            area, reviewed = review.area_mm2, True
        elif review is None and analysis is not None and analysis.area_mm2 is not None:
            area, reviewed = analysis.area_mm2, False
        else:
            continue  # rejected, or nothing measurable
        points.append(_point(photo.local_date, photo.study_day, area, reviewed, "photo", photo.id))
    for closure in ulcer.closures:
        day = entries.study_day(participant, closure.observed_on)
        points.append(_point(closure.observed_on, day, 0.0, True, "closure", None))
    points.sort(key=lambda p: (p["local_date"], p["source"] == "closure"))
    baseline = next((p for p in points if p["reviewed"]), None)
    for point in points:
        if point["reviewed"] and baseline is not None and baseline["area_mm2"] > 0:
            change = (point["area_mm2"] - baseline["area_mm2"]) / baseline["area_mm2"] * 100
            point["percent_change"] = round(change, 1)
    return {"ulcer": ulcer, "baseline": baseline, "points": points}


def _point(
    day: date, study_day: int | None, area: float, reviewed: bool, source: str, photo_id: int | None
) -> dict[str, Any]:
    return {
        "local_date": day,
        "study_day": study_day,
        "area_mm2": round(area, 2),
        "reviewed": reviewed,
        "source": source,
        "photo_id": photo_id,
        "percent_change": None,
    }
