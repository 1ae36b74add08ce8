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
from backend.core.blueprint import Blueprint, created_or_replay
from backend.core.pagination import paginate_query
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles

blp = Blueprint("amputations", __name__, url_prefix="/api/v1", description="Amputation events (staff-recorded)")


@blp.route("/participants/<id:participant_id>/amputations")
class ParticipantAmputations(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(AmputationEventQueryArgsSchema, AmputationEventSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int, pagination_parameters: Any) -> list[AmputationEvent]:
        """List a participant's amputation events, newest first (voided ones marked)."""
        query = service.amputations_query(get_session(), current_actor(), participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)

    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(AmputationEventCreateSchema, AmputationEventSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int) -> Any:
        """Record an amputation of one leg on a date, at a level (audited)."""
        result = service.record_amputation(get_session(), current_actor(), participant_id, data, utcnow())
        return created_or_replay(result)


@blp.route("/participants/<id:participant_id>/amputations/<id:amputation_id>/corrections")
class ParticipantAmputationCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(AmputationEventCorrectionSchema, AmputationEventSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, amputation_id: int) -> Any:
        """Correct or void an amputation event, with a reason (a new version; the original stays)."""
        actor = current_actor()
        result = service.correct_amputation(get_session(), actor, participant_id, amputation_id, data, utcnow())
        return created_or_replay(result)
