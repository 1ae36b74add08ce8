"""The patient's diary (/me/pain-scores) and the staff view of a participant's diary."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor, current_participant_id
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
from backend.staff import roles

blp = Blueprint("diary", __name__, url_prefix="/api/v1", description="Rest-pain diary (NRS 0-10)")


@blp.route("/me/pain-scores")
class OwnPainScores(MethodView):
    @blp.auth(patient=True)
    @blp.listing(PainScoreQueryArgsSchema, PainScoreSchema)
    def get(self, filters: dict[str, Any]) -> Select[PainScore]:
        """List your own pain scores, newest day first."""
        return service.pain_scores_query(get_session(), current_actor(), current_participant_id(), filters, utcnow())

    @blp.auth(patient=True)
    @blp.creates(PainScoreCreateSchema, PainScoreSchema, 423)
    def post(self, data: dict[str, Any]) -> Any:
        """Record today's rest pain (or yesterday's, within the morning grace time)."""
        return service.record_pain_score(get_session(), current_actor(), data, utcnow())


@blp.route("/me/pain-scores/<id:score_id>/corrections")
class OwnPainScoreCorrections(MethodView):
    @blp.auth(patient=True)
    @blp.creates(PainScoreCorrectionSchema, PainScoreSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], score_id: int) -> Any:
        """Correct your own score within 24 hours (a new version; the original stays)."""
        actor = current_actor()
        return service.correct_pain_score(get_session(), actor, current_participant_id(), score_id, data, utcnow())


@blp.route("/participants/<id:participant_id>/pain-scores")
class ParticipantPainScores(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(PainScoreQueryArgsSchema, PainScoreSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int) -> Select[PainScore]:
        """List a participant's pain scores, newest day first."""
        return service.pain_scores_query(get_session(), current_actor(), participant_id, filters, utcnow())


@blp.route("/participants/<id:participant_id>/pain-scores/<id:score_id>/corrections")
class ParticipantPainScoreCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(StaffPainScoreCorrectionSchema, PainScoreSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, score_id: int) -> Any:
        """Correct a participant's score, with a reason (a new version; the original stays)."""
        return service.correct_pain_score(get_session(), current_actor(), participant_id, score_id, data, utcnow())
