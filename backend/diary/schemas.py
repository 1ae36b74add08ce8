"""Pain score requests and responses."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import REASON, BaseSchema, DateRangeArgsSchema, EntryCreateSchema, StrictInteger

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


class PainScoreSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    client_uuid = fields.UUID(dump_only=True)
    score = fields.Integer(dump_only=True)
    note = fields.String(dump_only=True, allow_none=True)
    diary_date = fields.Date(dump_only=True)
    study_day = fields.Integer(dump_only=True, allow_none=True)
    recorded_at = fields.AwareDateTime(dump_only=True)
    recorded_utc_offset_minutes = fields.Integer(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)
    late_entry = fields.Boolean(dump_only=True)
    is_current = fields.Boolean(dump_only=True)
    superseded_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    superseded_by_id = fields.Integer(dump_only=True, allow_none=True)
    corrects_id = fields.Integer(dump_only=True, allow_none=True)
    correction_reason = fields.String(dump_only=True, allow_none=True)
    entered_by_type = fields.String(dump_only=True)


class PainScoreQueryArgsSchema(DateRangeArgsSchema):
    include_superseded = fields.Boolean(load_default=False)
