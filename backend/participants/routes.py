"""Staff participant API and the patient's own profile."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.audit.schemas import AuditEventSchema
from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.participants import service
from backend.participants.models import Participant
from backend.participants.schemas import (
    ParticipantCreateSchema,
    ParticipantQueryArgsSchema,
    ParticipantSchema,
    ParticipantUpdateSchema,
    ProfileSchema,
    StatusChangeSchema,
)
from backend.staff import roles

blp = Blueprint("participants", __name__, url_prefix="/api/v1", description="Trial participants (subject codes only)")


@blp.route("/participants")
class Participants(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(ParticipantQueryArgsSchema, ParticipantSchema)
    def get(self, filters: dict[str, Any]) -> Select[Participant]:
        """List the participants of your sites; filter by site, status, cohort or subject code."""
        return service.participants_query(current_actor(), filters)

    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(ParticipantCreateSchema, ParticipantSchema, 409)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a participant (status screening) at one of your sites."""
        return service.create_participant(get_session(), current_actor(), data, utcnow())


@blp.route("/participants/<id:participant_id>")
class ParticipantById(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.response(200, ParticipantSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, participant_id: int) -> Participant:
        """Read one participant."""
        return service.read_participant(get_session(), current_actor(), participant_id, utcnow())

    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.takes(ParticipantUpdateSchema, ParticipantSchema, 404, 409, 423)
    def patch(self, changes: dict[str, Any], participant_id: int) -> Participant:
        """Change a participant's staff-editable fields, with a reason."""
        return service.update_participant(get_session(), current_actor(), participant_id, changes, utcnow())


def _transition_view(transition: str, roles: frozenset[Any], doc: str) -> type[MethodView]:
    class Transition(MethodView):
        @blp.auth(roles)
        @blp.takes(StatusChangeSchema, ParticipantSchema, 404, 409, 423)
        def post(self, data: dict[str, Any], participant_id: int) -> Participant:
            return service.change_status(
                get_session(), current_actor(), participant_id, transition, data["reason"], utcnow()
            )

    Transition.post.__doc__ = doc
    Transition.__name__ = f"Participant{transition.capitalize()}"
    return Transition


blp.route("/participants/<id:participant_id>/enrol")(
    _transition_view("enrol", roles.MANAGE_PARTICIPANTS, "Enrol a screened participant (status active).")
)
blp.route("/participants/<id:participant_id>/withdraw")(
    _transition_view(
        "withdraw", roles.WITHDRAW_PARTICIPANTS, "Withdraw a participant; their devices are signed out at once."
    )
)
blp.route("/participants/<id:participant_id>/complete")(
    _transition_view("complete", roles.MANAGE_PARTICIPANTS, "Mark a participant's follow-up complete.")
)


@blp.route("/me")
class OwnProfile(MethodView):
    @blp.auth(patient=True)
    @blp.response(200, ProfileSchema)
    def get(self) -> Participant:
        """Read the signed-in patient's own participant profile."""
        return service.own_profile(get_session(), current_actor())


@blp.route("/participants/<id:participant_id>/audit")
class ParticipantAudit(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(None, AuditEventSchema, 404)
    def get(self, participant_id: int) -> Select[Any]:
        """Read the audit trail of one participant, oldest first."""
        return service.audit_trail_query(get_session(), current_actor(), participant_id, utcnow())
