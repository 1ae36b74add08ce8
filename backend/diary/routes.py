"""The patient's diary (/me/pain-scores) and the staff view of a participant's diary."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from backend.auth import policy
from backend.auth.access import current_actor
from backend.core.blueprint import Blueprint, created_or_replay
from backend.core.pagination import paginate_query
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.diary import service
from backend.diary.models import PainScore
from backend.diary.schemas import (
    PainScoreCorrectionSchema,
    PainScoreCreateSchema,
    PainScoreQueryArgsSchema,
    PainScoreSchema,
    StaffPainScoreCorrectionSchema,
)

blp = Blueprint("diary", __name__, url_prefix="/api/v1", description="Rest-pain diary (NRS 0-10)")

# An instance, not the class: webargs builds a new schema from a class on every request,
# which cost 5 % of this busy route's CPU.
PAIN_SCORE_CREATE = PainScoreCreateSchema()
REPLAY = {"schema": PainScoreSchema, "description": "A replay of an earlier create (same client_uuid)"}


@blp.route("/me/pain-scores")
class OwnPainScores(MethodView):
    @blp.auth(patient=True)
    @blp.arguments(PainScoreQueryArgsSchema, location="query")
    @blp.response(200, PainScoreSchema(many=True))
    @blp.paginate()
    def get(self, filters: dict[str, Any], pagination_parameters: Any) -> list[PainScore]:
        """List your own pain scores, newest day first."""
        actor = current_actor()
        assert actor.participant_id is not None
        query = service.pain_scores_query(get_session(), actor, actor.participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)

    @blp.auth(patient=True)
    @blp.arguments(PAIN_SCORE_CREATE)
    @blp.response(201, PainScoreSchema)
    @blp.alt_response(200, **REPLAY)
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any]) -> Any:
        """Record today's rest pain (or yesterday's, within the morning grace time)."""
        return created_or_replay(service.record_pain_score(get_session(), current_actor(), data, utcnow()))


@blp.route("/me/pain-scores/<id:score_id>/corrections")
class OwnPainScoreCorrections(MethodView):
    @blp.auth(patient=True)
    @blp.arguments(PainScoreCorrectionSchema)
    @blp.response(201, PainScoreSchema)
    @blp.alt_response(200, **REPLAY)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], score_id: int) -> Any:
        """Correct your own score within 24 hours (a new version; the original stays)."""
        actor = current_actor()
        assert actor.participant_id is not None
        return created_or_replay(
            service.correct_pain_score(get_session(), actor, actor.participant_id, score_id, data, utcnow())
        )


@blp.route("/participants/<id:participant_id>/pain-scores")
class ParticipantPainScores(MethodView):
    @blp.auth(policy.READ_PARTICIPANTS)
    @blp.arguments(PainScoreQueryArgsSchema, location="query")
    @blp.response(200, PainScoreSchema(many=True))
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.paginate()
    def get(self, filters: dict[str, Any], participant_id: int, pagination_parameters: Any) -> list[PainScore]:
        """List a participant's pain scores, newest day first."""
        query = service.pain_scores_query(get_session(), current_actor(), participant_id, filters, utcnow())
        return paginate_query(get_session(), query, pagination_parameters)


@blp.route("/participants/<id:participant_id>/pain-scores/<id:score_id>/corrections")
class ParticipantPainScoreCorrections(MethodView):
    @blp.auth(policy.MANAGE_PARTICIPANTS)
    @blp.arguments(StaffPainScoreCorrectionSchema)
    @blp.response(201, PainScoreSchema)
    @blp.alt_response(200, **REPLAY)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(423, response="LOCKED")
    def post(self, data: dict[str, Any], participant_id: int, score_id: int) -> Any:
        """Correct a participant's score, with a reason (a new version; the original stays)."""
        return created_or_replay(
            service.correct_pain_score(get_session(), current_actor(), participant_id, score_id, data, utcnow())
        )
