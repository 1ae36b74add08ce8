"""Ulcer, photo, analysis and review requests and responses."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from backend.core.schemas import BaseSchema, EntryCreateSchema, StrictFloat
from backend.participants.models import Leg
from backend.ulcers.models import RejectReason, ReviewDecision, ReviewStatus, UlcerLocation

MAX_POINTS = 500

_POINT = fields.List(StrictFloat(), validate=validate.Length(equal=2))


class UlcerCreateSchema(BaseSchema):
    client_uuid = fields.UUID(
        required=True, metadata={"description": "Generated on the phone; a replay returns the original"}
    )
    label = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=40),
            validate.Regexp(r"^\S(.*\S)?$", error="No leading or trailing spaces."),
        ],
        metadata={"description": "How the participant and nurse tell ulcers apart, e.g. 'A' or 'heel' (never a name)"},
    )
    leg = fields.Enum(Leg, by_value=True, required=True)
    location = fields.Enum(UlcerLocation, by_value=True, required=True)
    first_seen_on = fields.Date(required=True, metadata={"description": "Local date the ulcer was first seen"})


class UlcerClosureSchema(BaseSchema):
    observed_on = fields.Date(required=True, metadata={"description": "Local date of complete epithelialisation"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class UlcerSchema(UlcerCreateSchema):
    id = fields.Integer(dump_only=True)
    participant_id = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    created_by_type = fields.String(dump_only=True)
    healed_on = fields.Date(
        dump_only=True, allow_none=True, metadata={"description": "First recorded closure (area 0), if any"}
    )
    closures = fields.List(fields.Nested(UlcerClosureSchema), dump_only=True)


class ImageUpload(Upload):  # type: ignore[misc]  # flask-smorest ships no type hints
    """The uploaded file itself (a multipart file part, not a text field)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> FileStorage:
        if not isinstance(value, FileStorage):
            raise ValidationError("Send the photo as a file part of a multipart/form-data body.")
        return value


_NUMBER = r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,6})?"  # JSON numbers: no leading zeros
_WS = r"[ \t\n\r]*"  # JSON's whitespace (not every Unicode space)
_PAIR = rf"\[{_WS}{_NUMBER}{_WS},{_WS}{_NUMBER}{_WS}\]"
# The shape of the JSON text, so the spec documents it (3 to 500 points, no exponents).
POLYGON_TEXT = rf"^{_WS}\[{_WS}{_PAIR}({_WS},{_WS}{_PAIR}){{2,{MAX_POINTS - 1}}}{_WS}\]{_WS}$"


class JsonPolygon(fields.String):
    """A polygon sent in a form field as JSON text: [[x, y], ...] in upright image pixels."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})["pattern"] = POLYGON_TEXT
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[list[float]]:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.match(POLYGON_TEXT, text):
            raise ValidationError(f"Send JSON text: [[x, y], ...] with 3 to {MAX_POINTS} points.")
        try:
            return _polygon(json.loads(text))
        except ValueError:  # belt and braces: the pattern admits only JSON
            raise ValidationError("Not valid JSON; send [[x, y], ...].") from None


_UNSIGNED = _NUMBER.removeprefix("-?")
# Four numbers, none negative; that x0 < x1 and y0 < y1 is the service's check (the spec cannot say it).
BOX_TEXT = rf"^{_WS}\[{_WS}{_UNSIGNED}({_WS},{_WS}{_UNSIGNED}){{3}}{_WS}\]{_WS}$"


class JsonBox(fields.String):
    """A box sent in a form field as JSON text: [x0, y0, x1, y1] in upright image pixels."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})["pattern"] = BOX_TEXT
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[float]:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.match(BOX_TEXT, text):
            raise ValidationError("Send JSON text: [x0, y0, x1, y1] with four numbers, none negative.")
        return [float(v) for v in json.loads(text)]


def _polygon(points: Any) -> list[list[float]]:
    if not isinstance(points, list) or not 3 <= len(points) <= MAX_POINTS:
        raise ValidationError(f"Send a list of 3 to {MAX_POINTS} [x, y] points.")
    polygon: list[list[float]] = []
    for point in points:
        if (
            not isinstance(point, list)
            or len(point) != 2
            or any(isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) for c in point)
        ):
            raise ValidationError("Every point is [x, y] with two finite numbers.")
        polygon.append([float(point[0]), float(point[1])])
    return polygon


class PhotoUploadSchema(EntryCreateSchema):
    image = ImageUpload(required=True, metadata={"description": "JPEG, PNG or HEIC, at most 20 MB and 50 megapixels"})
    seed_x = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0),
        metadata={"description": "Where the patient tapped inside the ulcer: x in upright image pixels"},
    )
    seed_y = fields.Float(allow_nan=False, validate=validate.Range(min=0), metadata={"description": "... and y"})
    outline = JsonPolygon(
        metadata={"description": "Optional outline drawn by the patient, JSON text: [[x, y], ...] in upright pixels"}
    )
    box = JsonBox(
        metadata={
            "description": "Optional rough box the patient drew around the wound, JSON text: [x0, y0, x1, y1] in "
            "upright pixels; it must contain the tap. One ulcer per upload: for several ulcers in one photo, "
            "upload the same image once per ulcer with its own tap or box"
        }
    )


class AnalysisSchema(BaseSchema):
    algorithm_version = fields.String()
    analysed_at = fields.AwareDateTime()
    status = fields.String(
        metadata={
            "description": "ok, low_quality, needs_outline (the outline is only a suggestion for the nurse: no mm²), "
            "no_marker or ulcer_not_found"
        }
    )
    outline = fields.List(_POINT, allow_none=True)
    area_px = fields.Float(allow_none=True)
    area_mm2 = fields.Float(
        allow_none=True, metadata={"description": "Provisional until reviewed; never given without a marker"}
    )
    marker_corners = fields.List(_POINT, allow_none=True)
    mm_per_px = fields.Float(allow_none=True)
    homography = fields.List(fields.List(fields.Float()), allow_none=True)
    flags = fields.List(fields.String())
    retake = fields.List(
        fields.String(),
        metadata={
            "description": "Why to take the photo again while the phone is in hand: blurred, no_marker, "
            "marker_cut_by_edge, too_dark, marker_too_small, wound_fills_frame (empty when fine)"
        },
    )


class ReviewSchema(BaseSchema):
    decision = fields.Enum(ReviewDecision, by_value=True, required=True)
    reject_reason = fields.Enum(
        RejectReason, by_value=True, allow_none=True, metadata={"description": "Required to reject"}
    )
    outline = fields.List(
        _POINT,
        allow_none=True,
        validate=validate.Length(min=3, max=MAX_POINTS),
        metadata={"description": "Required to correct: the outline in upright image pixels"},
    )
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    algorithm_version = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "The estimate's version the reviewer saw; a newer one in between is a 409"},
    )


class ReviewResultSchema(ReviewSchema):
    area_px = fields.Float(allow_none=True)
    area_mm2 = fields.Float(allow_none=True)
    reviewed_at = fields.AwareDateTime()
    reviewed_by_id = fields.Integer()


class PhotoSchema(BaseSchema):
    id = fields.Integer()
    participant_id = fields.Integer()
    ulcer_id = fields.Integer()
    recorded_at = fields.AwareDateTime()
    recorded_utc_offset_minutes = fields.Integer()
    received_at = fields.AwareDateTime()
    local_date = fields.Date()
    study_day = fields.Integer(allow_none=True)
    late_entry = fields.Boolean()
    width = fields.Integer()
    height = fields.Integer()
    media_type = fields.String()
    received_format = fields.String()
    received_bytes = fields.Integer()
    received_sha256 = fields.String(metadata={"description": "SHA-256 of the bytes the phone sent"})
    seed_x = fields.Float(allow_none=True)
    seed_y = fields.Float(allow_none=True)
    patient_outline = fields.List(_POINT, allow_none=True)
    patient_box = fields.List(StrictFloat(), allow_none=True, metadata={"description": "[x0, y0, x1, y1]"})
    review_status = fields.Enum(ReviewStatus, by_value=True)
    analysis = fields.Nested(
        AnalysisSchema, allow_none=True, metadata={"description": "The newest algorithm version's estimate"}
    )
    analyses = fields.List(fields.Nested(AnalysisSchema), metadata={"description": "Every algorithm version's result"})
    review = fields.Nested(ReviewResultSchema, allow_none=True)


class ImageArgsSchema(BaseSchema):
    outline = fields.Boolean(load_default=False, metadata={"description": "Draw the outline and the marker on it"})


class MarkerArgsSchema(BaseSchema):
    dpi = fields.Integer(
        load_default=300, validate=validate.Range(min=72, max=1200), metadata={"description": "Printer resolution"}
    )


class AreaPointSchema(BaseSchema):
    local_date = fields.Date()
    study_day = fields.Integer(allow_none=True)
    area_mm2 = fields.Float()
    reviewed = fields.Boolean(metadata={"description": "A measurement (reviewed) or a provisional estimate"})
    source = fields.String(metadata={"description": "photo, or closure (area 0 recorded by staff)"})
    photo_id = fields.Integer(allow_none=True)
    percent_change = fields.Float(
        allow_none=True, metadata={"description": "From the first reviewed measurement; reviewed points only"}
    )


class AreaHistorySchema(BaseSchema):
    ulcer = fields.Nested(UlcerSchema)
    baseline = fields.Nested(AreaPointSchema, allow_none=True)
    points = fields.List(fields.Nested(AreaPointSchema))
