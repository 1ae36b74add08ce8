"""Walk test requests and responses: shapes and single-field ranges (cross-field
plausibility is a rule in the service)."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import (
    EntryCreateSchema,
    EntryProvenanceSchema,
    EntryQueryArgsSchema,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    correction_schema,
)
from backend.walks.models import AssistiveDevice, LimitingSymptom, WalkMethod

BORG = validate.Range(min=0, max=10)


def _optional_int(low: int, high: int, description: str) -> StrictInteger:
    return StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=low, max=high),
        metadata={"description": description},
    )


class WalkTestCreateSchema(EntryCreateSchema):
    method = fields.Enum(WalkMethod, by_value=True, required=True)
    distance_m = StrictFloat(
        required=True, validate=validate.Range(min=0, max=1000), metadata={"description": "Metres walked"}
    )
    duration_s = StrictInteger(load_default=360, validate=validate.Range(min=60, max=600))
    course_length_m = StrictFloat(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=5, max=100),
        metadata={"description": "Required for course methods"},
    )
    laps = _optional_int(0, 200, "Completed laps on a course")
    stopped_early = StrictBoolean(load_default=False)
    rests_count = StrictInteger(load_default=0, validate=validate.Range(min=0, max=50))
    rests_total_s = StrictInteger(load_default=0, validate=validate.Range(min=0, max=600))
    limiting_symptom = fields.Enum(LimitingSymptom, by_value=True, load_default=None, allow_none=True)
    borg_dyspnoea_before = _optional_int(0, 10, "Borg CR10 dyspnoea before")
    borg_dyspnoea_after = _optional_int(0, 10, "Borg CR10 dyspnoea after")
    borg_fatigue_before = _optional_int(0, 10, "Borg CR10 fatigue before")
    borg_fatigue_after = _optional_int(0, 10, "Borg CR10 fatigue after")
    supplemental_oxygen = StrictBoolean(load_default=False)
    oxygen_l_per_min = StrictFloat(load_default=None, allow_none=True, validate=validate.Range(min=0, max=15))
    assistive_device = fields.Enum(AssistiveDevice, by_value=True, load_default=AssistiveDevice.NONE)
    spo2_before = _optional_int(50, 100, "SpO2 % before")
    spo2_after = _optional_int(50, 100, "SpO2 % after")
    heart_rate_before = _optional_int(20, 250, "Heart rate before, per minute")
    heart_rate_after = _optional_int(20, 250, "Heart rate after, per minute")
    step_count = _optional_int(0, 5000, "Steps counted by the phone")


class WalkTestSchema(WalkTestCreateSchema, EntryProvenanceSchema):
    needs_review = fields.Boolean(dump_only=True)


class WalkTestQueryArgsSchema(EntryQueryArgsSchema):
    method = fields.Enum(WalkMethod, by_value=True)


WalkTestCorrectionSchema = correction_schema(WalkTestCreateSchema, "WalkTestCorrectionSchema")
