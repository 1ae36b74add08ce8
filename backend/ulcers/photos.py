"""A patient's ulcer photo: upload, measurement and reading it back.

A photo is visible (201) only after both its file and its row are stored: the file is
written first (content-addressed, renamed into place), the row committed second. A file
whose commit failed is not deleted by the request: another upload of the same image may
be about to commit a row for it; the hourly orphan sweep (`ulcers.upkeep`) deletes it.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend import imaging
from backend.audit.service import record_staff_read
from backend.core.actor import Actor
from backend.entries import service as entries
from backend.errors import Conflict, NotFound, ValidationFailed
from backend.imaging import polygon
from backend.locks.service import ensure_writable
from backend.participants.scope import participant_in_scope
from backend.studies.service import current_protocol
from backend.ulcers import intake, marker_sheet
from backend.ulcers.models import PhotoAnalysis, UlcerPhoto
from backend.ulcers.overlay import draw_overlay
from backend.ulcers.service import ulcer_in_scope
from backend.ulcers.storage import PhotoStore

log = logging.getLogger(__name__)

# What an analysis row keeps of the estimator's result (`Analysis.to_dict`).
_ANALYSIS_FIELDS = (
    "algorithm_version",
    "status",
    "outline",
    "area_px",
    "area_mm2",
    "marker_corners",
    "mm_per_px",
    "homography",
    "flags",
    "retake",
)


def marker_spec(session: Session, study_id: int) -> imaging.MarkerSpec:
    """The calibration marker the study's protocol prints."""
    marker = current_protocol(session, study_id).document["marker"]
    red, green, blue = marker["color_srgb"]
    return imaging.MarkerSpec(side_mm=float(marker["side_mm"]), color_srgb=(red, green, blue))


def photo_marker(photo: UlcerPhoto) -> imaging.MarkerSpec:
    """The marker the photo was taken with (the protocol may print another one by now)."""
    red, green, blue = photo.marker_color_srgb
    return imaging.MarkerSpec(side_mm=photo.marker_side_mm, color_srgb=(red, green, blue))


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
    _check_box(data.get("box"))
    patient_outline = data.get("outline")
    if patient_outline is not None:
        _check_polygon(patient_outline, clean.width, clean.height)
    ensure_writable(session, actor, participant, when.local_date)  # before the file is stored
    spec = marker_spec(session, participant.study_id)
    key = f"{clean.sha256}.{clean.extension}"
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
        patient_box=data.get("box"),
        marker_side_mm=spec.side_mm,
        marker_color_srgb=list(spec.color_srgb),
    )
    # Measured before anything is written, so a tap or box that cannot anchor it is refused
    # whole; it measures the stored bytes, as a reanalysis and `flask ulcer measure` do.
    analysis = _first_analysis(io.BytesIO(clean.data), photo, now)
    if analysis is not None:
        _refuse_a_wound_twice(session, photo, analysis, ulcer.label)
    store.put(key, clean.data)
    try:
        if analysis is not None:
            photo.analyses.append(analysis)
        entries.record_entry(session, actor, participant, photo, now)
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


def _check_box(box: list[float] | None) -> None:
    """The box's own shape; where it lies in the photo, and that it holds the tap, the
    estimator checks (AnchorRejected)."""
    if box is not None and not (box[0] < box[2] and box[1] < box[3]):
        message = "The box has no size: it needs x0 < x1 and y0 < y1."
        raise ValidationFailed(message, errors={"files": {"box": [message]}})


def _check_polygon(points: list[list[float]], width: int, height: int) -> None:
    try:
        polygon.check_polygon(points, width, height)
    except polygon.PolygonRejected as exc:
        raise ValidationFailed(str(exc), errors={"files": {"outline": [str(exc)]}}) from None


def _first_analysis(source: BinaryIO, photo: UlcerPhoto, now: datetime) -> PhotoAnalysis | None:
    """The upload's analysis; a crash of the estimator never loses the photo (it is logged,
    and `flask photos reanalyse` fills the gap), an anchor it refuses is the patient's 422."""
    try:
        return analyse(source, photo, now)
    except imaging.AnchorRejected as exc:
        names = ["seed_x", "seed_y"] if exc.field == "seed" else [exc.field]
        message = exc.message[:1].upper() + exc.message[1:] + "."
        raise ValidationFailed(message, errors={"files": {name: [message] for name in names}}) from None
    except Exception:
        log.exception("ulcer area estimation failed (algorithm %s)", imaging.ALGORITHM_VERSION)
        return None


def _refuse_a_wound_twice(session: Session, photo: UlcerPhoto, analysis: PhotoAnalysis, label: str) -> None:
    """Several ulcers in one photo are one upload each, of the same image; two taps that
    find one wound (either tap inside the other's outline) would measure it twice."""
    siblings = session.scalars(
        select(UlcerPhoto).where(
            UlcerPhoto.participant_id == photo.participant_id,
            UlcerPhoto.storage_key == photo.storage_key,
            UlcerPhoto.ulcer_id != photo.ulcer_id,
        )
    ).all()
    for sibling in siblings:
        review, theirs = sibling.review, sibling.analysis
        their_outline = review.outline if review and review.outline else (theirs.outline if theirs else None)
        same = _tap_inside(photo, their_outline) or _tap_inside(sibling, analysis.outline)
        if same:
            raise Conflict(
                f"This tap finds the wound already measured in photo {sibling.id} for another ulcer; "
                f"tap inside the wound of ulcer {label!r}, or retake the photo closer.",
                errors={"files": {"seed_x": ["Tap a different wound."], "seed_y": ["Tap a different wound."]}},
            )


def _tap_inside(photo: UlcerPhoto, outline: list[list[float]] | None) -> bool:
    if photo.seed_x is None or photo.seed_y is None or not outline:
        return False
    return polygon.contains(outline, photo.seed_x, photo.seed_y)


def analyse(source: BinaryIO, photo: UlcerPhoto, now: datetime) -> PhotoAnalysis:
    """The current estimator's result for a stored photo, from the anchors the patient
    sent with it and against the marker it was taken with, as a row."""
    seed = (photo.seed_x, photo.seed_y) if photo.seed_x is not None and photo.seed_y is not None else None
    outline = [(x, y) for x, y in photo.patient_outline] if photo.patient_outline is not None else None
    box = (
        (photo.patient_box[0], photo.patient_box[1], photo.patient_box[2], photo.patient_box[3])
        if photo.patient_box
        else None
    )
    result = imaging.measure_file(source, seed=seed, box=box, outline=outline, marker=photo_marker(photo))
    data = result.to_dict()
    return PhotoAnalysis(analysed_at=now, **{name: data[name] for name in _ANALYSIS_FIELDS})


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
    stream: BinaryIO  # the caller sends and closes it
    media_type: str


def photo_image(
    session: Session, store: PhotoStore, actor: Actor, photo_id: int, with_outline: bool, now: datetime
) -> ImageFile:
    """The stored (stripped) image, optionally with the outline and marker drawn over it."""
    photo = read_photo(session, actor, photo_id, now)
    stream = store.open(photo.storage_key)
    if not with_outline:
        return ImageFile(stream, photo.media_type)
    with stream:
        return ImageFile(io.BytesIO(draw_overlay(stream, photo)), "image/jpeg")
