"""Symptom report requests and responses."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import DateRangeArgsSchema, EntryCreateSchema, correction_schema
from backend.symptoms.models import Severity, SymptomCategory


class SymptomReportCreateSchema(EntryCreateSchema):
    category = fields.Enum(SymptomCategory, by_value=True, required=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    onset_date = fields.Date(required=True)
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SymptomReportSchema(SymptomReportCreateSchema):
    id = fields.Integer(dump_only=True)
    study_day = fields.Integer(dump_only=True, allow_none=True)
    local_date = fields.Date(dump_only=True)
    recorded_utc_offset_minutes = fields.Integer(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)
    late_entry = fields.Boolean(dump_only=True)
    entered_by_type = fields.String(dump_only=True)
    is_current = fields.Boolean(dump_only=True)
    superseded_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    superseded_by_id = fields.Integer(dump_only=True, allow_none=True)
    corrects_id = fields.Integer(dump_only=True, allow_none=True)
    correction_reason = fields.String(dump_only=True, allow_none=True)


class SymptomQueryArgsSchema(DateRangeArgsSchema):
    severity = fields.Enum(Severity, by_value=True)
    include_superseded = fields.Boolean(load_default=False)


SymptomReportCorrectionSchema = correction_schema(SymptomReportCreateSchema, "SymptomReportCorrectionSchema")
