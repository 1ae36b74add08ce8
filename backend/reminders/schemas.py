"""Push device, reminder settings and reminder history requests and responses."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from marshmallow import ValidationError, fields, validate

from backend.core.schemas import BaseSchema
from backend.reminders.models import DeliveryOutcome, Platform, ReminderKind, ReminderStatus
from backend.studies.protocol import LOCAL_TIME_PATTERN


class WholeMatch(validate.Regexp):
    """Regexp over the whole value: Python's `$` also matches before a trailing newline,
    so "token\\n" would pass `re.match` (the pattern stays `$` for the OpenAPI spec, where
    JavaScript's `$` does not have that quirk)."""

    def __call__(self, value: Any) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class LocalTime(fields.Field):  # type: ignore[type-arg]
    """A wall-clock time in the participant's zone, as "HH:MM" (24-hour)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "pattern": LOCAL_TIME_PATTERN, "example": "20:00"} | kwargs.pop("metadata", {})
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{value:%H:%M}"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str) or not re.fullmatch(LOCAL_TIME_PATTERN, value):
            raise self.make_error("invalid")
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))

    default_error_messages = {"invalid": "Use HH:MM, 24-hour."}


class DeviceRegisterSchema(BaseSchema):
    fcm_token = fields.String(
        required=True,
        validate=WholeMatch(r"^[A-Za-z0-9_:.-]{20,1024}$", error="Not an FCM registration token."),
        metadata={"description": "The app's FCM registration token (stored to send pushes; shown to staff truncated)"},
    )
    platform = fields.Enum(Platform, by_value=True, required=True)
    app_version = fields.String(
        required=True, validate=WholeMatch(r"^[0-9A-Za-z.+_-]{1,32}$", error="Use 1-32 version characters.")
    )
    locale = fields.String(
        required=True,
        validate=WholeMatch(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", error="Use a BCP 47 tag, e.g. fa-IR."),
        metadata={"description": "The phone's locale; message texts follow the participant's study language"},
    )


class DeviceSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    token_preview = fields.String(dump_only=True, metadata={"description": "The first 8 characters of the token"})
    platform = fields.Enum(Platform, by_value=True, dump_only=True)
    app_version = fields.String(dump_only=True)
    locale = fields.String(dump_only=True)
    registered_at = fields.AwareDateTime(dump_only=True)
    refreshed_at = fields.AwareDateTime(dump_only=True)
    retired_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    retired_reason = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "removed, replaced, reassigned, stale, unregistered, invalid_token"},
    )


class QuietHoursSchema(BaseSchema):
    start = LocalTime(required=True)
    end = LocalTime(required=True)


class ReminderSettingsUpdateSchema(BaseSchema):
    diary_time = LocalTime(
        required=True, allow_none=True, metadata={"description": "When the daily reminders come; null: the study's"}
    )
    quiet_hours = fields.Nested(
        QuietHoursSchema,
        load_default=None,
        allow_none=False,  # left out means the study's; a JSON null is refused
        metadata={"description": "No push in [start, end) local time; may span midnight; leave out: the study's"},
    )
    opted_out = fields.List(
        fields.Enum(ReminderKind, by_value=True),
        required=True,
        validate=validate.Length(max=len(ReminderKind)),
        metadata={"description": "Reminder kinds the participant does not want"},
    )


class ReminderSettingsSchema(BaseSchema):
    diary_time = LocalTime(dump_only=True)
    quiet_hours = fields.Nested(QuietHoursSchema, dump_only=True)
    opted_out = fields.List(fields.String(), dump_only=True)
    kinds = fields.List(fields.String(), dump_only=True, metadata={"description": "Kinds this study sends"})
    max_per_day = fields.Integer(dump_only=True)
    follow_up_after_minutes = fields.Integer(dump_only=True)


class ReminderHistoryArgsSchema(BaseSchema):
    from_date = fields.Date(load_default=None, metadata={"description": "Local date; default: 13 days before to_date"})
    to_date = fields.Date(load_default=None, metadata={"description": "Local date; default: today"})


class UpcomingSchema(BaseSchema):
    kind = fields.Enum(ReminderKind, by_value=True)
    local_date = fields.Date()
    due_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    opted_out = fields.Boolean()


class DeliverySchema(BaseSchema):
    attempted_at = fields.AwareDateTime(attribute="delivery.attempted_at")
    sender = fields.String(attribute="delivery.sender")
    outcome = fields.Enum(DeliveryOutcome, by_value=True, attribute="delivery.outcome")
    message_id = fields.String(attribute="delivery.message_id", allow_none=True)
    error_code = fields.String(attribute="delivery.error_code", allow_none=True)
    error_message = fields.String(attribute="delivery.error_message", allow_none=True)
    retry_after_seconds = fields.Integer(attribute="delivery.retry_after_seconds", allow_none=True)
    device_id = fields.Integer(attribute="delivery.push_device_id")
    token_preview = fields.String()


class ReminderSchema(BaseSchema):
    id = fields.Integer(attribute="reminder.id")
    kind = fields.Enum(ReminderKind, by_value=True, attribute="reminder.kind")
    local_date = fields.Date(attribute="reminder.local_date")
    attempt = fields.Integer(attribute="reminder.attempt", metadata={"description": "0: reminder, 1: follow-up"})
    due_at = fields.AwareDateTime(attribute="reminder.due_at")
    expires_at = fields.AwareDateTime(attribute="reminder.expires_at")
    status = fields.Enum(ReminderStatus, by_value=True, attribute="reminder.status")
    reason = fields.String(
        attribute="reminder.reason", allow_none=True, metadata={"description": "Why it was skipped or failed"}
    )
    tries = fields.Integer(attribute="reminder.tries")
    sent_at = fields.AwareDateTime(attribute="reminder.sent_at", allow_none=True)
    deliveries = fields.List(fields.Nested(DeliverySchema))


class ReminderHistorySchema(BaseSchema):
    participant_id = fields.Integer()
    from_date = fields.Date()
    to_date = fields.Date()
    settings = fields.Nested(ReminderSettingsSchema)
    upcoming = fields.List(fields.Nested(UpcomingSchema))
    reminders = fields.List(fields.Nested(ReminderSchema))
