"""Sync runs as staff see them."""

from __future__ import annotations

from marshmallow import fields

from backend.core.schemas import BaseSchema


class SyncRunSchema(BaseSchema):
    id = fields.Integer()
    study_code = fields.String(
        allow_none=True, metadata={"description": "The study the run was limited to; null: every study"}
    )
    mode = fields.String(metadata={"description": "full, or incremental (changed participants only)"})
    status = fields.String()
    started_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime()
    watermark = fields.AwareDateTime(
        metadata={"description": "Records up to this instant are in the run; the next run looks after it"}
    )
    participants = fields.Integer(metadata={"description": "Participants whose rows were derived"})
    inserted = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    removed = fields.Integer(metadata={"description": "Rows no longer derived (e.g. day 0 changed)"})
    skipped = fields.Integer(metadata={"description": "Rows of locked data the run left as they were"})
    missing = fields.Integer(metadata={"description": "Rows with status missing among those this run derived"})
