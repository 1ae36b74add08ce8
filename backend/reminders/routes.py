"""The patient's push devices and reminder settings; the staff's view of both."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.core.blueprint import Blueprint, created_or_replay
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.reminders import service
from backend.reminders.models import PushDevice
from backend.reminders.schemas import (
    DeviceRegisterSchema,
    DeviceSchema,
    ReminderHistoryArgsSchema,
    ReminderHistorySchema,
    ReminderSettingsSchema,
    ReminderSettingsUpdateSchema,
)
from backend.staff import roles

blp = Blueprint("reminders", __name__, url_prefix="/api/v1", description="Push devices and reminders")


@blp.route("/me/devices")
class OwnDevices(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, DeviceSchema(many=True))
    def get(self) -> list[PushDevice]:
        """List your phones registered for push reminders."""
        return service.own_devices(get_session(), current_actor())

    @blp.auth(patient=True)
    @blp.arguments(DeviceRegisterSchema)
    @blp.response(201, DeviceSchema)
    @blp.alt_response(200, schema=DeviceSchema, description="The token was already registered: refreshed")
    def post(self, data: dict[str, Any]) -> Any:
        """Register this phone's FCM token, or refresh it (call on every app start)."""
        return created_or_replay(service.register_device(get_session(), current_actor(), data, utcnow()))


@blp.route("/me/devices/<id:device_id>")
class OwnDevice(MethodView):
    @blp.auth(patient=True)
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, device_id: int) -> None:
        """Stop push reminders to one of your phones."""
        service.remove_device(get_session(), current_actor(), device_id, utcnow())


@blp.route("/me/reminder-settings")
class OwnReminderSettings(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, ReminderSettingsSchema)
    def get(self) -> dict[str, Any]:
        """Your reminder time, quiet hours and opt-outs (the study's defaults where unset)."""
        return service.own_settings(get_session(), current_actor())

    @blp.auth(patient=True)
    @blp.arguments(ReminderSettingsUpdateSchema)
    @blp.response(200, ReminderSettingsSchema)
    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set your reminder time, quiet hours and opt-outs (null: the study's default)."""
        return service.update_settings(get_session(), current_actor(), data, utcnow())


@blp.route("/participants/<id:participant_id>/devices")
class ParticipantDevices(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.response(200, DeviceSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, participant_id: int) -> list[PushDevice]:
        """A participant's phones registered for push, retired ones included (token truncated)."""
        return service.participant_devices(get_session(), current_actor(), participant_id, utcnow())


@blp.route("/participants/<id:participant_id>/reminders")
class ParticipantReminders(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.arguments(ReminderHistoryArgsSchema, location="query")
    @blp.response(200, ReminderHistorySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, filters: dict[str, Any], participant_id: int) -> dict[str, Any]:
        """A participant's reminder schedule, and what was sent, failed or skipped (with why)."""
        return service.reminder_history(get_session(), current_actor(), participant_id, filters, utcnow())
