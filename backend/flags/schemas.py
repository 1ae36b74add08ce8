"""The nurse's flag queue."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import BaseSchema
from backend.flags.models import FlagKind


class FlagSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    participant_id = fields.Integer(dump_only=True)
    subject_code = fields.String(attribute="participant.subject_code", dump_only=True)
    kind = fields.Enum(FlagKind, by_value=True, dump_only=True)
    urgent = fields.Boolean(dump_only=True)
    entity_type = fields.String(dump_only=True, allow_none=True)
    entity_id = fields.Integer(dump_only=True, allow_none=True)
    detail = fields.Dict(dump_only=True)
    raised_at = fields.AwareDateTime(dump_only=True)
    acknowledged_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    acknowledged_by_id = fields.Integer(dump_only=True, allow_none=True)
    acknowledgement_note = fields.String(dump_only=True, allow_none=True)


class FlagQueryArgsSchema(BaseSchema):
    state = fields.String(load_default="open", validate=validate.OneOf(("open", "acknowledged", "all")))
    kind = fields.Enum(FlagKind, by_value=True)
    participant_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class AcknowledgeSchema(BaseSchema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=1000))
