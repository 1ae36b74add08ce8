"""Symptom report requests and responses."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import EntryCreateSchema, EntryProvenanceSchema, EntryQueryArgsSchema, correction_schema
from backend.symptoms.models import Severity, SymptomCategory


class SymptomReportCreateSchema(EntryCreateSchema):
    category = fields.Enum(SymptomCategory, by_value=True, required=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    onset_date = fields.Date(required=True)
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SymptomReportSchema(SymptomReportCreateSchema, EntryProvenanceSchema):
    pass


class SymptomQueryArgsSchema(EntryQueryArgsSchema):
    severity = fields.Enum(Severity, by_value=True)


SymptomReportCorrectionSchema = correction_schema(SymptomReportCreateSchema, "SymptomReportCorrectionSchema")
