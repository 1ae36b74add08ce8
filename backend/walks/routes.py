"""The patient's walk tests (/me/walk-tests) and the staff view."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import Select

from backend.core.blueprint import Blueprint
from backend.core.request_context import current_actor, current_participant_id
from backend.core.timeutil import utcnow
from backend.db import get_session
from backend.staff import roles
from backend.walks import service
from backend.walks.models import WalkTest
from backend.walks.schemas import (
    WalkTestCorrectionSchema,
    WalkTestCreateSchema,
    WalkTestQueryArgsSchema,
    WalkTestSchema,
)

blp = Blueprint("walks", __name__, url_prefix="/api/v1", description="Six-minute walk tests")


@blp.route("/me/walk-tests")
class OwnWalkTests(MethodView):
    @blp.auth(patient=True)
    @blp.listing(WalkTestQueryArgsSchema, WalkTestSchema)
    def get(self, filters: dict[str, Any]) -> Select[WalkTest]:
        """List your own walk tests, newest first."""
        return service.walk_tests_query(get_session(), current_actor(), current_participant_id(), filters, utcnow())

    @blp.auth(patient=True)
    @blp.creates(WalkTestCreateSchema, WalkTestSchema, 423)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a six-minute walk test."""
        return service.record_walk_test(get_session(), current_actor(), data, utcnow())


@blp.route("/participants/<id:participant_id>/walk-tests")
class ParticipantWalkTests(MethodView):
    @blp.auth(roles.READ_PARTICIPANTS)
    @blp.listing(WalkTestQueryArgsSchema, WalkTestSchema, 404)
    def get(self, filters: dict[str, Any], participant_id: int) -> Select[WalkTest]:
        """List a participant's walk tests, newest first."""
        return service.walk_tests_query(get_session(), current_actor(), participant_id, filters, utcnow())


@blp.route("/participants/<id:participant_id>/walk-tests/<id:walk_id>/corrections")
class ParticipantWalkTestCorrections(MethodView):
    @blp.auth(roles.MANAGE_PARTICIPANTS)
    @blp.creates(WalkTestCorrectionSchema, WalkTestSchema, 404, 409, 423)
    def post(self, data: dict[str, Any], participant_id: int, walk_id: int) -> Any:
        """Correct a participant's walk test, with a reason (a new version; the original stays)."""
        return service.correct_walk_test(get_session(), current_actor(), participant_id, walk_id, data, utcnow())
