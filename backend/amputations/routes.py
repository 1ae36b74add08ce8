"""Staff record, correct and list a participant's amputation events."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.amputations import service
from backend.amputations.models import AmputationEvent
from backend.amputations.schemas import (
    AmputationEventCorrectionSchema,
    AmputationEventCreateSchema,
    AmputationEventQueryArgsSchema,
    AmputationEventSchema,
)
from backend.auth import policy
from backend.auth.access import current_actor
from backend.core.blueprint import Blueprint, created_or_replay
from backend.core.pagination import paginate_query
from backend.core.timeutil import utcnow
from backend.db import get_session

blp = Blueprint("amputations", __name__, url_prefix="/api/v1", description="Amputation events (staff-recorded)")

REPLAY = {"schema": AmputationEventSchema, "description": "A replay of an earlier request (same client_uuid)"}


@blp.route("/participants/<id:participant_id>/amputations")
class ParticipantAmputations(MethodView):
    @blp.auth(policy.READ_PARTICIPANTS)
    @blp.arguments(AmputationEventQueryArgsSchema, location="query")
    @blp.response(200, AmputationEventSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate()
    def get(self, filters: dict[str, Any], participant_id: int, pagination_parameters: Any) -> list[AmputationEvent]:
        """List a participant's amputation events, newest first (voided ones marked)."""
        query = service.amputations_query(get_session(), current_actor(), participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)

    @blp.auth(policy.MANAGE_PARTICIPANTS)
    @blp.arguments(AmputationEventCreateSchema)
    @blp.response(201, AmputationEventSchema)
    @blp.alt_response(200, **REPLAY)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], participant_id: int) -> Any:
        """Record an amputation of one leg on a date, at a level (audited)."""
        return created_or_replay(
            service.record_amputation(get_session(), current_actor(), participant_id, data, utcnow())
        )


@blp.route("/participants/<id:participant_id>/amputations/<id:amputation_id>/corrections")
class ParticipantAmputationCorrections(MethodView):
    @blp.auth(policy.MANAGE_PARTICIPANTS)
    @blp.arguments(AmputationEventCorrectionSchema)
    @blp.response(201, AmputationEventSchema)
    @blp.alt_response(200, **REPLAY)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], participant_id: int, amputation_id: int) -> Any:
        """Correct or void an amputation event, with a reason (a new version; the original stays)."""
        return created_or_replay(
            service.correct_amputation(get_session(), current_actor(), participant_id, amputation_id, data, utcnow())
        )
