"""Jobs over the stored photos: measure them again with a new estimator version, and
delete files that no photo row uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import imaging
from backend.audit.service import record_audit, snapshot
from backend.core.actor import Actor
from backend.ulcers.models import UlcerPhoto
from backend.ulcers.photos import analyse
from backend.ulcers.storage import PhotoStore

log = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)  # longer than any upload takes between file and commit


@dataclass(frozen=True)
class ReanalysisResult:
    analysed: int
    skipped: int
    failed: int


def reanalyse_photos(
    session: Session, store: PhotoStore, actor: Actor, now: datetime, *, since: datetime | None = None
) -> ReanalysisResult:
    """Run the current algorithm version on every photo (or those received since a time)
    that lacks its result, against the marker the photo was taken with. Older versions'
    results stay. One commit (and audit event) per photo, so an interrupted run loses
    nothing and the next one carries on."""
    query = select(UlcerPhoto.id).order_by(UlcerPhoto.id)
    if since is not None:
        query = query.where(UlcerPhoto.received_at >= since)
    analysed = skipped = failed = 0
    for photo_id in session.scalars(query).all():
        photo = session.get_one(UlcerPhoto, photo_id)
        if any(a.algorithm_version == imaging.ALGORITHM_VERSION for a in photo.analyses):
            skipped += 1
            continue
        try:
            with store.open(photo.storage_key) as stream:
                analysis = analyse(stream, photo, now)
        except Exception:
            log.exception("reanalysis of photo %s failed", photo.id)
            failed += 1
            continue
        photo.analyses.append(analysis)
        session.flush()
        record_audit(
            session,
            actor,
            "photo_analysis.create",
            analysis,
            after=snapshot(analysis),
            participant_id=photo.participant_id,
            now=now,
        )
        session.commit()
        analysed += 1
    return ReanalysisResult(analysed, skipped, failed)


def sweep_orphan_photos(session: Session, store: PhotoStore, older_than: timedelta = ORPHAN_GRACE) -> int:
    """Delete stored files that no photo row uses (an upload whose commit failed, or a
    process killed in between). A file written or reused within `older_than` is left
    alone: its upload may still be committing (the store checks its age again last)."""
    removed = 0
    grace = older_than.total_seconds()
    for key in store.keys(untouched_for=grace):
        if session.scalar(select(UlcerPhoto.id).where(UlcerPhoto.storage_key == key).limit(1)) is None:
            removed += store.delete(key, untouched_for=grace)
    return removed
