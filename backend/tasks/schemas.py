"""The home screen: tasks and the patient's own summary."""

from __future__ import annotations

from marshmallow import fields

from backend.core.schemas import BaseSchema


class TaskSchema(BaseSchema):
    task = fields.String(
        dump_only=True, metadata={"description": "rest_pain_diary, six_minute_walk, ulcer_photo or visit"}
    )
    status = fields.String(
        dump_only=True, metadata={"description": "due, done, missed (closed, cannot be filled), upcoming, in_window"}
    )
    date = fields.Date(
        dump_only=True, metadata={"description": "Diary day, first day of the walk or photo week, visit day"}
    )
    closes_at = fields.AwareDateTime(dump_only=True)
    method = fields.String(dump_only=True, allow_none=True)
    ulcer_id = fields.Integer(dump_only=True, metadata={"description": "ulcer_photo: which ulcer to photograph"})
    visit_code = fields.String(dump_only=True)
    label = fields.String(dump_only=True, metadata={"description": "The visit's or the ulcer's label"})
    window_start = fields.Date(dump_only=True)
    window_end = fields.Date(dump_only=True)


class TasksSchema(BaseSchema):
    local_date = fields.Date(dump_only=True)
    study_day = fields.Integer(dump_only=True, allow_none=True)
    timezone = fields.String(dump_only=True)
    tasks = fields.List(fields.Nested(TaskSchema), dump_only=True)


class DailyScoreSchema(BaseSchema):
    diary_date = fields.Date(dump_only=True)
    score = fields.Integer(dump_only=True)


class WalkPointSchema(BaseSchema):
    local_date = fields.Date(dump_only=True)
    method = fields.String(dump_only=True)
    distance_m = fields.Float(dump_only=True)


class SummarySchema(BaseSchema):
    pain_7_day_mean = fields.Float(dump_only=True, allow_none=True)
    pain_7_day_days = fields.Integer(dump_only=True)
    pain_scores = fields.List(fields.Nested(DailyScoreSchema), dump_only=True)
    walk_tests = fields.List(fields.Nested(WalkPointSchema), dump_only=True)
