"""Base schemas: unknown fields are refused, errors and pages have one shape."""

from __future__ import annotations

import copy
from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from marshmallow import missing as missing_


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


# A reason is read by auditors: at least 3 characters and not only spaces.
REASON = [validate.Length(min=3, max=1000), validate.Regexp(r"^\s*\S", error="A reason is required.")]


class ReasonSchema(BaseSchema):
    reason = fields.String(required=True, validate=REASON)


class StrictInteger(fields.Integer):
    """An integer that refuses 3.5, "7" and true (JSON booleans are ints in Python)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(strict=True, **kwargs)  # type: ignore[arg-type]

    def _validated(self, value: object) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class EntryCreateSchema(BaseSchema):
    """What every create from the app carries."""

    client_uuid = fields.UUID(
        required=True, metadata={"description": "Generated on the phone; a replay returns the original"}
    )
    recorded_at = fields.AwareDateTime(
        required=True, metadata={"description": "Device time with its UTC offset, e.g. 2026-03-01T20:15:00+03:30"}
    )


class DateRangeArgsSchema(BaseSchema):
    date_from = fields.Date(data_key="from", metadata={"description": "First local date to include"})
    date_to = fields.Date(data_key="to", metadata={"description": "Last local date to include"})


class EntryQueryArgsSchema(DateRangeArgsSchema):
    include_superseded = fields.Boolean(load_default=False, metadata={"description": "Also list replaced versions"})


class EntryProvenanceSchema(BaseSchema):
    """What every stored entry says about itself: when, by whom, which day, which version."""

    id = fields.Integer(dump_only=True)
    local_date = fields.Date(dump_only=True)
    study_day = fields.Integer(dump_only=True, allow_none=True)
    recorded_utc_offset_minutes = fields.Integer(dump_only=True)
    received_at = fields.AwareDateTime(dump_only=True)
    late_entry = fields.Boolean(dump_only=True)
    entered_by_type = fields.String(dump_only=True)
    is_current = fields.Boolean(dump_only=True)
    superseded_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    superseded_by_id = fields.Integer(dump_only=True, allow_none=True)
    corrects_id = fields.Integer(dump_only=True, allow_none=True)
    correction_reason = fields.String(dump_only=True, allow_none=True)


def correction_schema(
    create: type[Schema],
    name: str,
    exclude: tuple[str, ...] = ("recorded_at",),
    extra: dict[str, fields.Field[Any]] | None = None,
) -> type[Schema]:
    """A staff correction schema from a create schema: every field optional (only what is
    sent changes), plus client_uuid, a required reason and any `extra` fields."""
    fields_: dict[str, fields.Field[Any]] = {}
    for field_name, field_obj in create().fields.items():
        if field_name in exclude or field_name == "client_uuid":
            continue
        optional = copy.copy(field_obj)
        optional.required = False
        optional.load_default = missing_
        fields_[field_name] = optional
    fields_["client_uuid"] = fields.UUID(required=True)
    fields_["reason"] = fields.String(required=True, validate=REASON)
    fields_.update(extra or {})
    return type(name, (BaseSchema,), fields_)


class StrictFloat(fields.Float):
    """A number as JSON sends it: "300" and true are refused, NaN and infinity too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=False, **kwargs)

    def _validated(self, value: object) -> float:
        if isinstance(value, bool | str):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """JSON true or false only; "yes", "1" and 1 are refused (for bodies, not query strings)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
