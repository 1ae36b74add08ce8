"""A batch of mixed entries and the per-item results."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import BaseSchema

KINDS = ("pain_score", "walk_test", "symptom_report")
MAX_ITEMS = 500


class SyncItemSchema(BaseSchema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    data = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "The body the single create endpoint of this kind takes"},
    )


class SyncBatchSchema(BaseSchema):
    items = fields.List(fields.Nested(SyncItemSchema), required=True, validate=validate.Length(min=1, max=MAX_ITEMS))


class SyncItemResultSchema(BaseSchema):
    index = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True)
    client_uuid = fields.String(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True, metadata={"description": "created, duplicate or refused"})
    id = fields.Integer(dump_only=True, allow_none=True)
    code = fields.String(dump_only=True, allow_none=True)
    message = fields.String(dump_only=True, allow_none=True)
    errors = fields.Dict(dump_only=True, allow_none=True)


class SyncResultSchema(BaseSchema):
    created = fields.Integer(dump_only=True)
    duplicate = fields.Integer(dump_only=True)
    refused = fields.Integer(dump_only=True)
    results = fields.List(fields.Nested(SyncItemResultSchema), dump_only=True)
