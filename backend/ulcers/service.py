"""Ulcers, photo upload, analysis, nurse review and the per-ulcer area history.

A photo is visible (201) only after both its file and its row are stored: the file is
written first (content-addressed, renamed into place), the row committed second. A file
whose commit failed is not deleted by the request: another upload of the same image may
be about to commit a row for it. The hourly `sweep_orphan_photos` job deletes files that
no row uses and that nobody wrote or reused for an hour.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend import imaging
from backend.audit.service import record_audit, record_staff_read, snapshot
from backend.auth.policy import participant_in_scope, scope_participants
from backend.core import entries, idempotency
from backend.core.actor import Actor
from backend.core.timeutil import local_date
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.flags.models import FlagKind
from backend.flags.service import raise_flag
from backend.locks.service import ensure_writable
from backend.participants.models import Participant
from backend.studies.service import current_protocol
from backend.ulcers import intake, marker_sheet
from backend.ulcers.models import (
    PhotoAnalysis,
    PhotoReview,
    ReviewDecision,
    ReviewStatus,
    Ulcer,
    UlcerClosure,
    UlcerPhoto,
)
from backend.ulcers.storage import PhotoStore

log = logging.getLogger(__name__)

MAX_OUTLINE_POINTS = 500
ORPHAN_GRACE = timedelta(hours=1)  # longer than any upload takes between file and commit


# ---------------------------------------------------------------- ulcers


def create_ulcer(
    session: Session, actor: Actor, participant_id: int, data: dict[str, Any], now: datetime
) -> tuple[Ulcer, bool]:
    """Register an ulcer of a participant (by the patient or staff). Returns (ulcer, created)."""
    participant = participant_in_scope(session, actor, participant_id)
    fingerprint = idempotency.fingerprint(data)
    existing = session.scalar(
        select(Ulcer).where(Ulcer.participant_id == participant.id, Ulcer.client_uuid == data["client_uuid"])
    )
    if existing is not None:
        return idempotency.replay(existing, fingerprint), False
    if actor.kind == "participant":
        entries.require_active(participant)
    if data["first_seen_on"] > local_date(now, participant.timezone):
        raise entries.field_error("first_seen_on", "This date is in the future.")
    label_taken = session.scalar(
        select(Ulcer.id).where(Ulcer.participant_id == participant.id, Ulcer.label == data["label"])
    )
    if label_taken is not None:
        raise entries.field_error("label", f"This participant already has an ulcer labelled {data['label']!r}.")
    ensure_writable(session, actor, participant, data["first_seen_on"])
    ulcer = Ulcer(
        participant_id=participant.id,
        client_uuid=data["client_uuid"],
        request_fingerprint=fingerprint,
        label=data["label"],
        leg=data["leg"],
        location=data["location"],
        first_seen_on=data["first_seen_on"],
        created_at=now,
        created_by_type=actor.kind,
        created_by_id=actor.id,
    )
    try:
        session.add(ulcer)
        session.flush()
        record_audit(
            session, actor, "ulcer.create", ulcer, after=snapshot(ulcer), participant_id=participant.id, now=now
        )
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent create took the client_uuid or the label: answer as it would
        return create_ulcer(session, actor, participant_id, data, now)
    return ulcer, True


def ulcers_query(session: Session, actor: Actor, participant_id: int, now: datetime) -> Select[Ulcer]:
    """A participant's ulcers in the order they were registered; a staff read is logged."""
    participant = participant_in_scope(session, actor, participant_id)
    record_staff_read(session, actor, "ulcers", participant.id, now)
    return (
        select(Ulcer)
        .where(Ulcer.participant_id == participant.id)
        .options(selectinload(Ulcer.closures))
        .order_by(Ulcer.id)
    )


def ulcer_in_scope(session: Session, actor: Actor, participant_id: int, ulcer_id: int) -> tuple[Participant, Ulcer]:
    participant = participant_in_scope(session, actor, participant_id)
    ulcer = session.scalar(select(Ulcer).where(Ulcer.id == ulcer_id, Ulcer.participant_id == participant.id))
    if ulcer is None:
        raise NotFound(f"No ulcer {ulcer_id}.")
    return participant, ulcer


def record_closure(
    session: Session, actor: Actor, participant_id: int, ulcer_id: int, data: dict[str, Any], now: datetime
) -> Ulcer:
    """Staff record that an ulcer was completely epithelialised (area 0) on a date."""
    participant, ulcer = ulcer_in_scope(session, actor, participant_id, ulcer_id)
    observed_on: date = data["observed_on"]
    if observed_on > local_date(now, participant.timezone):
        raise entries.field_error("observed_on", "This date is in the future.")
    if observed_on < ulcer.first_seen_on:
        raise entries.field_error("observed_on", "This is before the ulcer was first seen.")
    if any(c.observed_on == observed_on for c in ulcer.closures):
        raise Conflict(f"Closure on {observed_on.isoformat()} is already recorded.")
    ensure_writable(session, actor, participant, observed_on)
    before = snapshot(ulcer)
    closure = UlcerClosure(
        ulcer_id=ulcer.id, observed_on=observed_on, note=data.get("note"), recorded_at=now, recorded_by_id=actor.id
    )
    session.add(closure)
    ulcer.closures.append(closure)
    if ulcer.healed_on is None or observed_on < ulcer.healed_on:
        ulcer.healed_on = observed_on
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"Closure on {observed_on.isoformat()} is already recorded.") from None
    record_audit(
        session,
        actor,
        "ulcer.closure",
        ulcer,
        before=before,
        after={**snapshot(ulcer), "closure": snapshot(closure)},
        reason=data.get("note"),
        participant_id=participant.id,
        now=now,
    )
    session.commit()
    return ulcer


# ---------------------------------------------------------------- photos


def marker_spec(session: Session, study_id: int) -> imaging.MarkerSpec:
    """The calibration marker the study's protocol prints."""
    marker = current_protocol(session, study_id).document["marker"]
    red, green, blue = marker["color_srgb"]
    return imaging.MarkerSpec(side_mm=float(marker["side_mm"]), color_srgb=(red, green, blue))


def printable_marker(session: Session, study_id: int, dpi: int, *, pdf: bool = False) -> bytes:
    """The study's marker sheet at exact size for `dpi`, as PNG (or a PDF page)."""
    spec = marker_spec(session, study_id)
    margin_mm = float(current_protocol(session, study_id).document["marker"]["margin_mm"])
    render = marker_sheet.marker_pdf if pdf else marker_sheet.marker_png
    return render(spec.side_mm, margin_mm, spec.color_srgb, dpi)


def record_photo(
    session: Session,
    store: PhotoStore,
    actor: Actor,
    ulcer_id: int,
    data: dict[str, Any],
    image_bytes: bytes,
    now: datetime,
) -> tuple[UlcerPhoto, bool]:
    """Store a patient's ulcer photo, stripped, and its provisional analysis. Returns (photo, created)."""
    assert actor.participant_id is not None
    participant, ulcer = ulcer_in_scope(session, actor, actor.participant_id, ulcer_id)
    intake.require_size(image_bytes)
    received_sha256 = hashlib.sha256(image_bytes).hexdigest()
    fields = {**data, "ulcer_id": ulcer.id, "image_sha256": received_sha256}
    existing, fingerprint = _find_photo_replay(session, participant.id, fields)
    if existing is not None:
        return existing, False
    entries.require_active(participant)
    when = entries.time_entry(participant, data["recorded_at"], now)
    clean = intake.clean_image(image_bytes)
    seed = _seed(data, clean.width, clean.height)
    patient_outline = data.get("outline")
    if patient_outline is not None:
        _check_polygon(patient_outline, clean.width, clean.height, "multipart")
    ensure_writable(session, actor, participant, when.local_date)  # before the file is stored
    spec = marker_spec(session, participant.study_id)
    key = f"{clean.sha256}.{clean.extension}"
    store.put(key, clean.data)
    try:
        photo = UlcerPhoto(
            **entries.provenance(actor, participant, when, data, fingerprint, now),
            ulcer_id=ulcer.id,
            received_sha256=received_sha256,
            received_bytes=len(image_bytes),
            received_format=clean.received_format,
            storage_key=key,
            media_type=clean.media_type,
            width=clean.width,
            height=clean.height,
            seed_x=seed[0] if seed else None,
            seed_y=seed[1] if seed else None,
            patient_outline=patient_outline,
            marker_side_mm=spec.side_mm,
            marker_color_srgb=list(spec.color_srgb),
        )
        analysis = _analyse(clean.data, seed, patient_outline, spec, now)
        if analysis is not None:
            photo.analyses.append(analysis)
        session.add(photo)
        session.flush()
        record_audit(
            session, actor, "ulcer_photo.create", photo, after=snapshot(photo), participant_id=participant.id, now=now
        )
        if photo.late_entry:
            raise_flag(
                session,
                participant,
                FlagKind.LATE_ENTRY,
                f"ulcer_photo:{photo.id}",
                now,
                detail={"recorded_at": photo.recorded_at.isoformat()},
                entity=("ulcer_photo", photo.id),
            )
        session.commit()
    except IntegrityError:
        session.rollback()
        # Two uploads of one client_uuid raced: the other one won; answer as a replay.
        existing, _ = _find_photo_replay(session, participant.id, fields)
        if existing is None:
            raise
        return existing, False
    except BaseException:
        session.rollback()
        raise
    return photo, True


def _find_photo_replay(session: Session, participant_id: int, fields: dict[str, Any]) -> tuple[UlcerPhoto | None, str]:
    """find_replay, with a mismatch reported where a multipart request's fields are."""
    try:
        return entries.find_replay(session, UlcerPhoto, participant_id, fields)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, errors={"files": (exc.errors or {}).get("json", {})}) from None


def _seed(data: dict[str, Any], width: int, height: int) -> tuple[float, float] | None:
    x, y = data.get("seed_x"), data.get("seed_y")
    if x is None and y is None:
        return None
    if x is None or y is None:
        missing = "seed_x" if x is None else "seed_y"
        raise ValidationFailed(
            "Send both seed_x and seed_y, or neither.",
            errors={"files": {missing: ["Send both seed_x and seed_y, or neither."]}},
        )
    if not (0 <= x < width and 0 <= y < height):
        message = f"The seed point ({x:g}, {y:g}) lies outside the {width}×{height} upright image."
        raise ValidationFailed(message, errors={"files": {"seed_x": [message], "seed_y": [message]}})
    return (float(x), float(y))


def _check_polygon(points: list[list[float]], width: int, height: int, body: str) -> None:
    """A polygon a nurse or patient drew: inside the image, not crossing itself, with an area."""
    location = "files" if body == "multipart" else "json"

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(message, errors={location: {"outline": [message]}})

    if not 3 <= len(points) <= MAX_OUTLINE_POINTS:
        raise refuse(f"An outline needs 3 to {MAX_OUTLINE_POINTS} points.")
    if any(not (0 <= x <= width and 0 <= y <= height) for x, y in points):
        raise refuse(f"Every point must lie inside the {width}×{height} image.")
    if imaging.polygon_area_px([(x, y) for x, y in points]) <= 0:
        raise refuse("The outline encloses no area.")
    if _self_intersects(points):
        raise refuse("The outline crosses itself.")


def _self_intersects(points: list[list[float]]) -> bool:
    """True if any two edges cross or touch, other than neighbours at their shared vertex
    (and neighbours that fold back along each other count: a spike has no area)."""
    n = len(points)

    def orient(a: list[float], b: list[float], c: list[float]) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on_segment(a: list[float], b: list[float], c: list[float]) -> bool:
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    def touch(a: list[float], b: list[float], c: list[float], d: list[float]) -> bool:
        d1, d2, d3, d4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
        if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and ((d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)):
            return True
        return (
            (d1 == 0 and on_segment(a, b, c))
            or (d2 == 0 and on_segment(a, b, d))
            or (d3 == 0 and on_segment(c, d, a))
            or (d4 == 0 and on_segment(c, d, b))
        )

    for i in range(n):
        a, b = points[i], points[(i + 1) % n]
        following = points[(i + 2) % n]
        # Neighbours share b; they fold back on each other if collinear and pointing back.
        if (
            orient(a, b, following) == 0
            and (b[0] - a[0]) * (following[0] - b[0]) + (b[1] - a[1]) * (following[1] - b[1]) < 0
        ):
            return True
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if touch(a, b, points[j], points[(j + 1) % n]):
                return True
    return False


def _as_points(points: list[list[float]] | None) -> list[imaging.Point] | None:
    return None if points is None else [(float(x), float(y)) for x, y in points]


def _analyse(
    stored: bytes,
    seed: imaging.Point | None,
    outline: list[list[float]] | None,
    spec: imaging.MarkerSpec,
    now: datetime,
) -> PhotoAnalysis | None:
    """The estimator's result as a row; a crash of the estimator never loses the photo
    (it is logged, and `flask photos reanalyse` fills the gap). It measures the stored
    file, as a reanalysis and `flask ulcer measure` do, so all three agree."""
    try:
        result = imaging.measure_file(io.BytesIO(stored), seed=seed, outline=_as_points(outline), marker=spec)
    except Exception:
        log.exception("ulcer area estimation failed (algorithm %s)", imaging.ALGORITHM_VERSION)
        return None
    return analysis_row(result, now)


def analysis_row(result: imaging.Analysis, now: datetime) -> PhotoAnalysis:
    data = result.to_dict()
    return PhotoAnalysis(
        algorithm_version=result.algorithm_version,
        analysed_at=now,
        status=data["status"],
        outline=data["outline"],
        area_px=data["area_px"],
        area_mm2=data["area_mm2"],
        marker_corners=data["marker_corners"],
        mm_per_px=data["mm_per_px"],
        homography=data["homography"],
        flags=data["flags"],
    )


def photo_in_scope(session: Session, actor: Actor, photo_id: int) -> UlcerPhoto:
    """A photo the actor may see (the patient's own, or a participant of the nurse's sites)."""
    photo = session.get(UlcerPhoto, photo_id)
    if photo is None:
        raise NotFound(f"No photo {photo_id}.")
    try:
        participant_in_scope(session, actor, photo.participant_id)
    except NotFound:
        raise NotFound(f"No photo {photo_id}.") from None
    return photo


def read_photo(session: Session, actor: Actor, photo_id: int, now: datetime) -> UlcerPhoto:
    """A photo with its analyses and review; a staff read is logged."""
    photo = photo_in_scope(session, actor, photo_id)
    record_staff_read(session, actor, "ulcer_photo", photo.participant_id, now)
    return photo


def photos_query(session: Session, actor: Actor, participant_id: int, ulcer_id: int, now: datetime) -> Select[Any]:
    """The photos of one ulcer, newest first; a staff read is logged."""
    participant, ulcer = ulcer_in_scope(session, actor, participant_id, ulcer_id)
    record_staff_read(session, actor, "ulcer_photos", participant.id, now)
    return (
        select(UlcerPhoto)
        .where(UlcerPhoto.ulcer_id == ulcer.id)
        .options(selectinload(UlcerPhoto.analyses), selectinload(UlcerPhoto.review))
        .order_by(UlcerPhoto.recorded_at.desc(), UlcerPhoto.id.desc())
    )


@dataclass(frozen=True)
class ImageFile:
    data: bytes
    media_type: str


def photo_image(
    session: Session, store: PhotoStore, actor: Actor, photo_id: int, with_outline: bool, now: datetime
) -> ImageFile:
    """The stored (stripped) image, optionally with the outline and marker drawn over it."""
    photo = read_photo(session, actor, photo_id, now)
    data = store.get(photo.storage_key)
    if not with_outline:
        return ImageFile(data, photo.media_type)
    return ImageFile(draw_overlay(data, photo), "image/jpeg")


def draw_overlay(data: bytes, photo: UlcerPhoto) -> bytes:
    """The reviewed outline (or else the estimate) in yellow, the marker corners in cyan."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 400))
    review, analysis = photo.review, photo.analysis
    outline = review.outline if review is not None and review.outline else (analysis.outline if analysis else None)
    if outline:
        draw.line([tuple(p) for p in [*outline, outline[0]]], fill=(255, 220, 0), width=width, joint="curve")
    if analysis is not None and analysis.marker_corners:
        corners = analysis.marker_corners
        draw.line([tuple(p) for p in [*corners, corners[0]]], fill=(0, 230, 230), width=width)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


# ---------------------------------------------------------------- review


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
        if analysis is None or analysis.homography is None:
            raise ValidationFailed(
                "No calibration marker was found in this photo, so an outline cannot be measured in mm²; "
                "reject it with reason no_marker.",
                errors={"json": {"decision": ["No marker to measure against."]}},
            )
        outline = data["outline"]
        _check_polygon(outline, photo.width, photo.height, "json")
        points = _as_points(outline)
        assert points is not None
        _check_on_skin_plane(points, analysis)
        review.outline = outline
        review.area_px = imaging.polygon_area_px(points)
        review.area_mm2 = imaging.polygon_area_mm2(points, analysis.homography)
        photo.review_status = ReviewStatus.CORRECTED
    try:
        session.add(review)
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"Photo {photo_id} was reviewed by someone else a moment ago.") from None
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


def _check_on_skin_plane(points: list[imaging.Point], analysis: PhotoAnalysis) -> None:
    """Refuse an outline the homography cannot measure: a point on or beyond the skin
    plane's horizon (possible in a strongly tilted photo) has no place in millimetres."""
    assert analysis.homography is not None and analysis.marker_corners
    (g, h, i) = analysis.homography[2]

    def w(x: float, y: float) -> float:
        return g * x + h * y + i

    side = 1.0 if w(*analysis.marker_corners[0]) > 0 else -1.0
    if any(side * w(x, y) <= 1e-9 for x, y in points):
        message = "Part of this outline lies beyond the skin plane seen in the photo; it cannot be measured."
        raise ValidationFailed(message, errors={"json": {"outline": [message]}})


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


# ---------------------------------------------------------------- area history


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


# ---------------------------------------------------------------- jobs


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
        photo = session.get(UlcerPhoto, photo_id)
        assert photo is not None
        if any(a.algorithm_version == imaging.ALGORITHM_VERSION for a in photo.analyses):
            skipped += 1
            continue
        seed = (photo.seed_x, photo.seed_y) if photo.seed_x is not None and photo.seed_y is not None else None
        red, green, blue = photo.marker_color_srgb
        try:
            result = imaging.measure_file(
                store.path(photo.storage_key),
                seed=seed,
                outline=_as_points(photo.patient_outline),
                marker=imaging.MarkerSpec(side_mm=photo.marker_side_mm, color_srgb=(red, green, blue)),
            )
        except Exception:
            log.exception("reanalysis of photo %s failed", photo.id)
            failed += 1
            continue
        analysis = analysis_row(result, now)
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
    for key in store.keys_older_than(older_than.total_seconds()):
        if session.scalar(select(UlcerPhoto.id).where(UlcerPhoto.storage_key == key).limit(1)) is None:
            removed += store.delete_if_older(key, older_than.total_seconds())
    return removed
