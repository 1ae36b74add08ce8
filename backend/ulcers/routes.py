"""Ulcers and their photos: the patient's upload, the nurse's review queue, the marker."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, send_file
from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint, created_or_replay, upload_limit
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles
from backend.ulcers import history, intake, photos, review, service
from backend.ulcers.models import Ulcer, UlcerPhoto
from backend.ulcers.schemas import (
    AreaHistorySchema,
    ImageArgsSchema,
    MarkerArgsSchema,
    PhotoSchema,
    PhotoUploadSchema,
    ReviewSchema,
    UlcerClosureSchema,
    UlcerCreateSchema,
    UlcerSchema,
)
from backend.ulcers.storage import PhotoStore

blp = Blueprint("ulcers", __name__, url_prefix="/api/v1", description="Ulcers, photos, area estimates and review")

BINARY = {"type": "string", "format": "binary"}
# The multipart body may carry a few form fields besides the photo itself.
UPLOAD_BODY_LIMIT = intake.MAX_BYTES + 256 * 1024


def photo_store() -> PhotoStore:
    store: PhotoStore = current_app.extensions["limbtrack_photo_store"]
    return store


@blp.route("/me/ulcers")
class OwnUlcers(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, UlcerSchema(many=True))
    def get(self) -> list[Ulcer]:
        """List your ulcers."""
        actor = current_actor()
        assert actor.participant_id is not None
        return list(get_session().scalars(service.ulcers_query(get_session(), actor, actor.participant_id, utcnow())))

    @blp.auth(patient=True)
    @blp.creates(UlcerCreateSchema, UlcerSchema, 423)
    def post(self, data: dict[str, Any]) -> Any:
        """Register an ulcer to photograph."""
        actor = current_actor()
        assert actor.participant_id is not None
        return service.create_ulcer(get_session(), actor, actor.participant_id, data, utcnow())


@blp.route("/me/ulcers/<id:ulcer_id>/photos")
class OwnUlcerPhotos(MethodView):
    @blp.auth(patient=True)
    @blp.listing(None, PhotoSchema, 404)
    def get(self, ulcer_id: int) -> Select[UlcerPhoto]:
        """List the photos of one of your ulcers, newest first."""
        actor = current_actor()
        assert actor.participant_id is not None
        return photos.photos_query(get_session(), actor, actor.participant_id, ulcer_id, utcnow())

    @blp.auth(patient=True)
    @upload_limit(UPLOAD_BODY_LIMIT)
    @blp.arguments(PhotoUploadSchema, location="files")
    @blp.response(201, PhotoSchema)
    @blp.alt_response(200, schema=PhotoSchema, description="A replay of an earlier upload (same client_uuid)")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], ulcer_id: int) -> Any:
        """Upload a photo of one of your ulcers, with the calibration marker beside it.

        The photo is stored without any metadata and measured at once; the area is
        provisional until a nurse reviews it.
        """
        upload = data.pop("image")
        image_bytes = upload.stream.read(intake.MAX_BYTES + 1)
        result = photos.record_photo(
            get_session(), photo_store(), current_actor(), ulcer_id, data, image_bytes, utcnow()
        )
        return created_or_replay(result)


@blp.route("/participants/<id:participant_id>/ulcers")
class ParticipantUlcers(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.response(200, UlcerSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, participant_id: int) -> list[Ulcer]:
        """List a participant's ulcers."""
        return list(
            get_session().scalars(service.ulcers_query(get_session(), current_actor(), participant_id, utcnow()))
        )

    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(UlcerCreateSchema, UlcerSchema, 404, 423)
    def post(self, data: dict[str, Any], participant_id: int) -> Any:
        """Register an ulcer of a participant."""
        return service.create_ulcer(get_session(), current_actor(), participant_id, data, utcnow())


@blp.route("/participants/<id:participant_id>/ulcers/<id:ulcer_id>/closures")
class UlcerClosures(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.takes(UlcerClosureSchema, UlcerSchema, 404, 409, 423, status=201)
    def post(self, data: dict[str, Any], participant_id: int, ulcer_id: int) -> Ulcer:
        """Record that an ulcer was healed (complete epithelialisation, area 0) on a date (audited).

        A second closure at least two weeks later confirms the healing.
        """
        return service.record_closure(get_session(), current_actor(), participant_id, ulcer_id, data, utcnow())


@blp.route("/participants/<id:participant_id>/ulcers/<id:ulcer_id>/photos")
class ParticipantUlcerPhotos(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(None, PhotoSchema, 404)
    def get(self, participant_id: int, ulcer_id: int) -> Select[UlcerPhoto]:
        """List the photos of a participant's ulcer, newest first."""
        return photos.photos_query(get_session(), current_actor(), participant_id, ulcer_id, utcnow())


@blp.route("/participants/<id:participant_id>/ulcers/<id:ulcer_id>/area-history")
class UlcerAreaHistory(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.response(200, AreaHistorySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, participant_id: int, ulcer_id: int) -> dict[str, Any]:
        """Show an ulcer's areas by date, with percent change from the first reviewed measurement."""
        return history.area_history(get_session(), current_actor(), participant_id, ulcer_id, utcnow())


@blp.route("/photos/<id:photo_id>")
class PhotoById(MethodView):
    @blp.auth()
    @blp.response(200, PhotoSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, photo_id: int) -> UlcerPhoto:
        """Show a photo's analysis (every algorithm version) and review."""
        return photos.read_photo(get_session(), current_actor(), photo_id, utcnow())


@blp.route("/photos/<id:photo_id>/image")
class PhotoImage(MethodView):
    @blp.auth()
    @blp.arguments(ImageArgsSchema, location="query")
    @blp.response(
        200, BINARY, content_type="image/jpeg", description="The stripped image (JPEG, or PNG if sent as PNG)"
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], photo_id: int) -> Response:
        """Download a photo as stored (no metadata), optionally with the outline drawn on it."""
        image = photos.photo_image(get_session(), photo_store(), current_actor(), photo_id, args["outline"], utcnow())
        return send_file(image.stream, mimetype=image.media_type)


@blp.route("/photos/<id:photo_id>/review")
class PhotoReviewView(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.takes(ReviewSchema, PhotoSchema, 404, 409, 423, status=201)
    def post(self, data: dict[str, Any], photo_id: int) -> UlcerPhoto:
        """Accept, correct (send the outline) or reject (send the reason) a photo's estimate."""
        return review.review_photo(get_session(), current_actor(), photo_id, data, utcnow())


@blp.route("/review/photos")
class ReviewQueue(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(None, PhotoSchema)
    def get(self) -> Select[UlcerPhoto]:
        """List your sites' unreviewed photos, oldest first."""
        return review.review_queue(current_actor())


def _study_id() -> int:
    study_id = current_actor().study_id
    assert study_id is not None  # every signed-in actor belongs to a study
    return study_id


@blp.route("/calibration-marker.png")
class CalibrationMarkerPng(MethodView):
    @blp.auth()
    @blp.arguments(MarkerArgsSchema, location="query")
    @blp.response(200, BINARY, content_type="image/png", description="The marker sheet at exact size for `dpi`")
    def get(self, args: dict[str, Any]) -> Response:
        """Download the study's calibration marker to print at 100 % (PNG with its resolution)."""
        sheet = photos.printable_marker(get_session(), _study_id(), args["dpi"])
        return Response(sheet, mimetype="image/png")


@blp.route("/calibration-marker.pdf")
class CalibrationMarkerPdf(MethodView):
    @blp.auth()
    @blp.arguments(MarkerArgsSchema, location="query")
    @blp.response(200, BINARY, content_type="application/pdf", description="The marker sheet as a PDF page")
    def get(self, args: dict[str, Any]) -> Response:
        """Download the study's calibration marker as a PDF to print at 100 %."""
        sheet = photos.printable_marker(get_session(), _study_id(), args["dpi"], pdf=True)
        return Response(sheet, mimetype="application/pdf")
