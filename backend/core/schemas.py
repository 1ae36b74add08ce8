"""Base schemas: unknown fields are refused, errors and pages have one shape."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class BaseSchema(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class ErrorSchema(BaseSchema):
    """The envelope of every error response."""

    code = fields.String(
        required=True,
        metadata={
            "description": "Machine-readable error code. For 422: `unprocessable_entity` when the request "
            "does not match its schema, `validation_failed` when it does but breaks a rule (another site, "
            "an unknown cohort, a reused client_uuid)."
        },
    )
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "Per-location, per-field messages"})
    request_id = fields.String(allow_none=True)


class ReasonSchema(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=1000))
