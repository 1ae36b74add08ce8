"""Data lock requests and responses. Whether a visit code belongs to the protocol is
checked by the service (it needs the participant's study)."""

from __future__ import annotations

from marshmallow import fields, validate

from backend.core.schemas import REASON, BaseSchema
from backend.locks.models import LockLevel


class DataLockCreateSchema(BaseSchema):
    visit_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "A visit of the study's current protocol (e.g. BASELINE, M1): the records whose study "
            "day falls in its window. Null or absent: all of the participant's data."
        },
    )
    level = fields.Enum(
        LockLevel,
        by_value=True,
        required=True,
        metadata={
            "description": "frozen: only admins may change the data; locked: nobody may, and the trial sync "
            "no longer updates its rows. Setting the other level of an active lock replaces it; the same level "
            "again is a conflict (409)."
        },
    )
    reason = fields.String(required=True, validate=REASON, metadata={"description": "Why (read by auditors)"})


class DataLockSchema(DataLockCreateSchema):
    id = fields.Integer(dump_only=True)
    participant_id = fields.Integer(dump_only=True)
    set_at = fields.AwareDateTime(dump_only=True)
    set_by_id = fields.Integer(dump_only=True, metadata={"description": "The admin who set it"})
    replaces_id = fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "The lock of the other level this one replaced"}
    )
    is_active = fields.Boolean(dump_only=True)
    released_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    released_by_id = fields.Integer(dump_only=True, allow_none=True)
    release_reason = fields.String(dump_only=True, allow_none=True)


class DataLockQueryArgsSchema(BaseSchema):
    active_only = fields.Boolean(load_default=False, metadata={"description": "Leave out released locks"})
