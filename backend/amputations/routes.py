"""Staff record, correct and list a participant's amputation events."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.amputations import service
from backend.amputations.models import AmputationEvent
from backend.amputations.schemas import (
    AmputationEventCorrectionSchema,
    AmputationEventCreateSchema,
    AmputationEventQueryArgsSchema,
    AmputationEventSchema,
)
from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles

blp = Blueprint("amputations", __name__, url_prefix="/api/v1", description="Amputation events (staff-recorded)")


@blp.route("/participants/<id:participant_id>/amputations")
class ParticipantAmputations(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(AmputationEventQueryArgsSchema, AmputationEventSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int) -> Select[AmputationEvent]:
        """List a participant's amputation events, newest first (voided ones marked)."""
        return service.amputations_query(get_session(), current_actor(), participant_id, filters, utcnow())

    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(AmputationEventCreateSchema, AmputationEventSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int) -> Any:
        """Record an amputation of one leg on a date, at a level (audited)."""
        return service.record_amputation(get_session(), current_actor(), participant_id, data, utcnow())


@blp.route("/participants/<id:participant_id>/amputations/<id:amputation_id>/corrections")
class ParticipantAmputationCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(AmputationEventCorrectionSchema, AmputationEventSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, amputation_id: int) -> Any:
        """Correct or void an amputation event, with a reason (a new version; the original stays)."""
        actor = current_actor()
        return service.correct_amputation(get_session(), actor, participant_id, amputation_id, data, utcnow())
