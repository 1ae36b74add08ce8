"""Pain score requests and responses."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import (
    REASON,
    BaseSchema,
    EntryCreateSchema,
    EntryProvenanceSchema,
    EntryQueryArgsSchema,
    StrictInteger,
)

NRS = validate.Range(min=0, max=10, error="Rest pain is a whole number from 0 (none) to 10 (worst imaginable).")


class PainScoreCreateSchema(EntryCreateSchema):
    score = StrictInteger(required=True, validate=NRS, metadata={"description": "Rest pain in the target leg, 0-10"})
    note = fields.String(validate=validate.Length(max=500))
    diary_date = fields.Date(
        metadata={"description": "The day the score is for; yesterday is allowed until the morning grace time"}
    )


class PainScoreCorrectionSchema(BaseSchema):
    client_uuid = fields.UUID(required=True)
    score = StrictInteger(required=True, validate=NRS)
    note = fields.String(validate=validate.Length(max=500))
    reason = fields.String(validate=REASON)


class StaffPainScoreCorrectionSchema(PainScoreCorrectionSchema):
    reason = fields.String(required=True, validate=REASON)


class PainScoreSchema(EntryProvenanceSchema):
    client_uuid = fields.UUID(dump_only=True)
    score = fields.Integer(dump_only=True)
    note = fields.String(dump_only=True, allow_none=True)
    diary_date = fields.Date(dump_only=True)
    recorded_at = fields.AwareDateTime(dump_only=True)


class PainScoreQueryArgsSchema(EntryQueryArgsSchema):
    """Dates filter on the diary date."""
